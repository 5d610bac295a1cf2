# What a fuzz harness links besides its library (sourced by scripts/fuzz.sh and
# tests/integration/fuzz_corpus_test.sh): LIBS for libdevtrust.a (the CA signer's
# confinement needs libseccomp), AGENT_LIBS for the agent's own library (OpenSSL
# and libcurl only), API_LIBS for the admin API, which parses its query strings
# with libevent's.
LIBS="$(pkg-config --libs openssl sqlite3 jansson libseccomp) -lpthread"
AGENT_LIBS="$(pkg-config --libs openssl libcurl)"
API_LIBS="$LIBS $(pkg-config --libs libevent)"
