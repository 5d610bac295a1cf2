# What links against libdevtrust.a outside the Makefile (sourced from the repository's
# root by scripts/fuzz.sh, tests/integration/fuzz_corpus_test.sh and bench/): DT_LIBS,
# its libraries (the CA signer's confinement needs libseccomp); and for the libFuzzer
# harnesses FUZZ_ALL, every one, and fuzz_parts (BUILD set).
FUZZ_ALL="csr csv import names est ocsp authz agent_certsonly agent_csrattrs agent_config api keyd launcher"
DT_LIBS="$(pkg-config --libs openssl sqlite3 jansson libseccomp) -lpthread"

# fuzz_parts T: sets src (the harness's sources), lib (its library) and libs for harness
# T. The agent's link its own library (OpenSSL and libcurl only); the API parses its
# query strings with libevent's; the harnesses on a real data dir share fuzz_datadir.c.
fuzz_parts() {
	src="tests/fuzz/$1_fuzz.c" lib="$BUILD/libdevtrust.a" libs=$DT_LIBS
	case $1 in
	agent_*) lib="$BUILD/libdtagent.a" libs="$(pkg-config --libs openssl libcurl)" ;;
	api) libs="$DT_LIBS $(pkg-config --libs libevent)" ;;
	esac
	if grep -q '"fuzz_datadir.h"' "$src"; then src="$src tests/fuzz/fuzz_datadir.c"; fi
}
