/*
 * Prometheus text-format metrics (exposition format 0.0.4): requests by route
 * and status, a latency histogram, certificates issued, OCSP responses
 * served and signed, CRL generation time, requests cut off by the request
 * deadline, OCSP signer renewals.
 */
#include <event2/buffer.h>

#include "http/http.h"

/* The statuses we send; anything else is counted as "other" (slot 0). */
static const int status_slots[HTTP_STATUS_SLOTS] = {0, 200, 400, 401, 403, 404, 405, 413, 500, 503};
/* Bucket upper bounds in microseconds. */
static const long long lat_bounds[HTTP_LAT_BUCKETS] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};
static const char *const route_names[R_COUNT] = {
    "ocsp",
    "crl",
    "ca",
    "est_cacerts",
    "est_simpleenroll",
    "est_simplereenroll",
    "est_csrattrs",
    "healthz",
    "metrics",
    "authz",
    "api",
    "ui",
    "other",
};

const char *http_route_name(enum http_route r)
{
	return (unsigned)r < R_COUNT ? route_names[r] : "other";
}

void http_metrics_count(struct http_server *srv, enum http_route route, int status, int64_t us)
{
	struct http_metrics *m = &srv->metrics;
	int slot = 0, b = 0;

	for (int i = 0; i < HTTP_STATUS_SLOTS; i++)
		if (status_slots[i] == status)
			slot = i;
	atomic_fetch_add(&m->requests[route][slot], 1);
	while (b < HTTP_LAT_BUCKETS && us > lat_bounds[b])
		b++;
	atomic_fetch_add(&m->latency[b], 1);
	atomic_fetch_add(&m->latency_sum_us, (unsigned long long)(us > 0 ? us : 0));
	atomic_fetch_add(&m->latency_count, 1);
}

void http_metrics_render(struct http_server *srv, struct evbuffer *out)
{
	struct http_metrics *m = &srv->metrics;
	unsigned long long cum = 0;
	size_t heap_used, heap_free;

	evbuffer_add_printf(out, "# HELP devtrust_http_requests_total HTTP requests by route and "
				 "status.\n# TYPE devtrust_http_requests_total counter\n");
	for (int r = 0; r < R_COUNT; r++)
		for (int s = 0; s < HTTP_STATUS_SLOTS; s++) {
			unsigned long long v = atomic_load(&m->requests[r][s]);
			char code[8];

			if (!v)
				continue;
			snprintf(code, sizeof(code), "%d", status_slots[s]);
			evbuffer_add_printf(
			    out,
			    "devtrust_http_requests_total{route=\"%s\",status=\"%s\"} "
			    "%llu\n",
			    route_names[r], status_slots[s] ? code : "other", v);
		}
	evbuffer_add_printf(out, "# HELP devtrust_http_request_duration_seconds Request latency.\n"
				 "# TYPE devtrust_http_request_duration_seconds histogram\n");
	for (int b = 0; b < HTTP_LAT_BUCKETS; b++) {
		cum += atomic_load(&m->latency[b]);
		evbuffer_add_printf(
		    out, "devtrust_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
		    (double)lat_bounds[b] / 1e6, cum);
	}
	cum += atomic_load(&m->latency[HTTP_LAT_BUCKETS]);
	evbuffer_add_printf(out,
			    "devtrust_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "devtrust_http_request_duration_seconds_sum %.6f\n"
			    "devtrust_http_request_duration_seconds_count %llu\n",
			    cum, (double)atomic_load(&m->latency_sum_us) / 1e6,
			    atomic_load(&m->latency_count));
	evbuffer_add_printf(
	    out,
	    "# TYPE devtrust_certificates_issued_total counter\n"
	    "devtrust_certificates_issued_total %llu\n"
	    "# TYPE devtrust_ocsp_responses_served_total counter\n"
	    "devtrust_ocsp_responses_served_total %llu\n"
	    "# TYPE devtrust_ocsp_responses_signed_total counter\n"
	    "devtrust_ocsp_responses_signed_total %llu\n"
	    "# TYPE devtrust_ocsp_cache_hits_total counter\n"
	    "devtrust_ocsp_cache_hits_total %llu\n"
	    "# HELP devtrust_ocsp_cache_entries OCSP answers held in memory: at most one "
	    "per request asked since the last status change.\n"
	    "# TYPE devtrust_ocsp_cache_entries gauge\n"
	    "devtrust_ocsp_cache_entries %zu\n"
	    "# HELP devtrust_store_memory_bytes Memory the database engine holds, page "
	    "caches included.\n"
	    "# TYPE devtrust_store_memory_bytes gauge\n"
	    "devtrust_store_memory_bytes %lld\n"
	    "# TYPE devtrust_crl_generated_total counter\n"
	    "devtrust_crl_generated_total %llu\n"
	    "# TYPE devtrust_crl_generation_seconds_total counter\n"
	    "devtrust_crl_generation_seconds_total %.6f\n"
	    "# TYPE devtrust_crl_generation_seconds_last gauge\n"
	    "devtrust_crl_generation_seconds_last %.6f\n"
	    "# HELP devtrust_http_request_timeouts_total Connections closed because a "
	    "request did not arrive whole within the request deadline.\n"
	    "# TYPE devtrust_http_request_timeouts_total counter\n"
	    "devtrust_http_request_timeouts_total %llu\n"
	    "# HELP devtrust_http_idle_reused_total Idle keep-alive connections closed at "
	    "the connection cap to let a new connection in.\n"
	    "# TYPE devtrust_http_idle_reused_total counter\n"
	    "devtrust_http_idle_reused_total %llu\n"
	    "# HELP devtrust_http_stalled_closed_total Connections closed at the connection "
	    "cap because their request had been arriving for half the request deadline.\n"
	    "# TYPE devtrust_http_stalled_closed_total counter\n"
	    "devtrust_http_stalled_closed_total %llu\n"
	    "# HELP devtrust_http_connections_refused_total Connections closed at accept, "
	    "over the connection cap.\n"
	    "# TYPE devtrust_http_connections_refused_total counter\n"
	    "devtrust_http_connections_refused_total %llu\n"
	    "# HELP devtrust_http_connections_open Open connections, all workers and "
	    "listeners.\n"
	    "# TYPE devtrust_http_connections_open gauge\n"
	    "devtrust_http_connections_open %d\n"
	    "# HELP devtrust_http_connections_open_max The most open at once since the "
	    "start.\n"
	    "# TYPE devtrust_http_connections_open_max gauge\n"
	    "devtrust_http_connections_open_max %d\n"
	    "# TYPE devtrust_http_connections_cap gauge\n"
	    "devtrust_http_connections_cap %d\n"
	    "# HELP devtrust_memory_trims_total Freed heap given back to the system after "
	    "a flood of connections or large CRLs.\n"
	    "# TYPE devtrust_memory_trims_total counter\n"
	    "devtrust_memory_trims_total %llu\n"
	    "# TYPE devtrust_ocsp_signer_renewals_total counter\n"
	    "devtrust_ocsp_signer_renewals_total %llu\n"
	    "# HELP devtrust_ocsp_signer_renewal_failures_total Failed attempts to renew "
	    "a delegated OCSP signer (retried every minute).\n"
	    "# TYPE devtrust_ocsp_signer_renewal_failures_total counter\n"
	    "devtrust_ocsp_signer_renewal_failures_total %llu\n"
	    "# TYPE devtrust_requests_in_flight gauge\n"
	    "devtrust_requests_in_flight %d\n"
	    "# TYPE devtrust_uptime_seconds gauge\n"
	    "devtrust_uptime_seconds %lld\n",
	    atomic_load(&m->certs_issued), atomic_load(&m->ocsp_served),
	    atomic_load(&m->ocsp_signed), atomic_load(&m->ocsp_cache_hits),
	    http_cache_ocsp_entries(srv->cache), store_memory_used(srv->ctx->store),
	    atomic_load(&m->crl_generated), (double)atomic_load(&m->crl_gen_us_total) / 1e6,
	    (double)atomic_load(&m->crl_gen_us_last) / 1e6, atomic_load(&m->request_timeouts),
	    atomic_load(&m->idle_reused), atomic_load(&m->stalled_closed),
	    atomic_load(&m->conns_refused), http_conns_open(srv), atomic_load(&srv->conns_peak),
	    srv->conns_cap, atomic_load(&m->memory_trims), atomic_load(&m->ocsp_signer_renewals),
	    atomic_load(&m->ocsp_signer_renewal_failures), atomic_load(&srv->in_flight),
	    (long long)(dt_now() - srv->started));
	if (dt_heap_usage(&heap_used, &heap_free))
		/* Whether a growing RSS is live data or freed memory malloc keeps (the soak). */
		evbuffer_add_printf(
		    out,
		    "# HELP devtrust_heap_in_use_bytes Heap allocated and not freed, "
		    "all threads.\n"
		    "# TYPE devtrust_heap_in_use_bytes gauge\n"
		    "devtrust_heap_in_use_bytes %zu\n"
		    "# HELP devtrust_heap_free_bytes Freed heap the allocator still holds.\n"
		    "# TYPE devtrust_heap_free_bytes gauge\n"
		    "devtrust_heap_free_bytes %zu\n",
		    heap_used, heap_free);
	http_authz_metrics(srv, out);
}
