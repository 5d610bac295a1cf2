-- wrk script of bench/serve_bench.sh: POSTs one OCSP request (RFC 6960
-- appendix A.1) read from the DER file $SB_OCSP_REQ to the URL's path.
local f = assert(io.open(os.getenv("SB_OCSP_REQ"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
