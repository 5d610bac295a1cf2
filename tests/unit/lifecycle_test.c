/*
 * The device lifecycle of DESIGN.md section 4: every legal transition and its
 * certificate consequences, and every illegal one refused without change.
 */
#include "testutil.h"

static struct dt_cert_info issue(struct tenv *t, const char *id)
{
	struct dt_error err;
	struct dt_cert_info info;
	unsigned char *csr, *der = NULL;
	size_t len, der_len;

	csr = tu_csr("P-256", NULL, &len);
	if (dt_cert_issue(t->ctx, id, csr, len, NULL, &der, &der_len, &info, &err) != DT_OK)
		fail_msg("issue: %s", err.msg);
	OPENSSL_free(csr);
	OPENSSL_free(der);
	return info;
}

static enum dt_state state_of(struct tenv *t, const char *id)
{
	struct dt_device d;
	struct dt_error err;

	assert_int_equal(dt_device_get(t->ctx, id, &d, &err), DT_OK);
	return d.state;
}

static struct dt_cert_info cert_of(struct tenv *t, const char *serial)
{
	struct dt_cert_info ci;
	struct dt_error err;

	assert_int_equal(dt_cert_get(t->ctx, serial, &ci, &err), DT_OK);
	return ci;
}

static void test_first_issuance_activates(void **state)
{
	struct tenv *t = *state;
	struct dt_cert_info ci;

	tu_device(t, "pump-1", NULL);
	assert_int_equal(state_of(t, "pump-1"), DT_STATE_REGISTERED);
	ci = issue(t, "pump-1");
	assert_int_equal(state_of(t, "pump-1"), DT_STATE_ACTIVE);
	assert_int_equal(cert_of(t, ci.serial).status, DT_CERT_VALID);
	assert_int_equal(strlen(ci.serial), 32);
}

static void test_suspend_holds_and_resume_lifts(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info ci;
	int64_t n = 0;

	tu_device(t, "pump-2", NULL);
	ci = issue(t, "pump-2");
	assert_int_equal(dt_device_transition(t->ctx, "pump-2", DT_TR_SUSPEND, "maint", &n, &err),
			 DT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(state_of(t, "pump-2"), DT_STATE_SUSPENDED);
	assert_int_equal(cert_of(t, ci.serial).status, DT_CERT_HOLD);
	assert_int_equal(cert_of(t, ci.serial).reason, DT_REASON_CERTIFICATE_HOLD);
	assert_int_equal(dt_device_transition(t->ctx, "pump-2", DT_TR_RESUME, NULL, &n, &err),
			 DT_OK);
	assert_int_equal(state_of(t, "pump-2"), DT_STATE_ACTIVE);
	assert_int_equal(cert_of(t, ci.serial).status, DT_CERT_VALID);
}

static void test_retire_and_compromised_are_terminal(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_cert_info a, b;

	tu_device(t, "pump-3", NULL);
	tu_device(t, "pump-4", NULL);
	a = issue(t, "pump-3");
	b = issue(t, "pump-4");
	assert_int_equal(dt_device_transition(t->ctx, "pump-3", DT_TR_RETIRE, "gone", NULL, &err),
			 DT_OK);
	assert_int_equal(cert_of(t, a.serial).status, DT_CERT_REVOKED);
	assert_int_equal(cert_of(t, a.serial).reason, DT_REASON_CESSATION);
	assert_int_equal(dt_device_transition(t->ctx, "pump-4", DT_TR_SUSPEND, NULL, NULL, &err),
			 DT_OK);
	assert_int_equal(
	    dt_device_transition(t->ctx, "pump-4", DT_TR_COMPROMISED, "stolen", NULL, &err), DT_OK);
	assert_int_equal(cert_of(t, b.serial).status, DT_CERT_REVOKED);
	assert_int_equal(cert_of(t, b.serial).reason, DT_REASON_KEY_COMPROMISE);
	for (int tr = DT_TR_SUSPEND; tr <= DT_TR_COMPROMISED; tr++) {
		assert_int_equal(dt_device_transition(t->ctx, "pump-3", (enum dt_transition)tr,
						      NULL, NULL, &err),
				 DT_ERR_STATE);
		assert_non_null(strstr(err.msg, "terminal"));
	}
	assert_int_equal(state_of(t, "pump-3"), DT_STATE_RETIRED);
	assert_int_equal(state_of(t, "pump-4"), DT_STATE_COMPROMISED);
}

static void test_illegal_transitions_name_states(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;

	tu_device(t, "pump-5", NULL);
	assert_int_equal(dt_device_transition(t->ctx, "pump-5", DT_TR_SUSPEND, NULL, NULL, &err),
			 DT_ERR_STATE);
	assert_non_null(strstr(err.msg, "registered"));
	assert_non_null(strstr(err.msg, "retire"));
	assert_int_equal(dt_device_transition(t->ctx, "pump-5", DT_TR_RESUME, NULL, NULL, &err),
			 DT_ERR_STATE);
	assert_int_equal(state_of(t, "pump-5"), DT_STATE_REGISTERED);
	assert_int_equal(dt_device_transition(t->ctx, "nope", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_ERR_NOT_FOUND);
}

static void test_suspended_device_cannot_enroll(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	unsigned char *csr, *der = NULL;
	size_t len, der_len;

	tu_device(t, "pump-6", NULL);
	issue(t, "pump-6");
	assert_int_equal(dt_device_transition(t->ctx, "pump-6", DT_TR_SUSPEND, NULL, NULL, &err),
			 DT_OK);
	csr = tu_csr("P-256", NULL, &len);
	assert_int_equal(
	    dt_cert_issue(t->ctx, "pump-6", csr, len, NULL, &der, &der_len, NULL, &err),
	    DT_ERR_STATE);
	assert_null(der);
	assert_non_null(strstr(err.msg, "suspended"));
	OPENSSL_free(csr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_first_issuance_activates, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_suspend_holds_and_resume_lifts, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_retire_and_compromised_are_terminal, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_illegal_transitions_name_states, tu_setup,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_suspended_device_cannot_enroll, tu_setup,
					    tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
