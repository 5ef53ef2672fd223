/* p11smime: OpenLDAP's client library, loaded when a directory is first
 * used.
 *
 * Linking libldap would load it (and GnuTLS, SASL, ...) into every run:
 * milliseconds that signing one message cannot spare. core/directory.c
 * includes this header instead of <ldap.h>: the calls it makes go through
 * a table filled by psm_ldap_load() with dlopen()/dlsym().
 */
#ifndef P11SMIME_LDAPFN_H
#define P11SMIME_LDAPFN_H

#include <ldap.h>

#define PSM_LDAP_FUNCTIONS(X) \
	X(ldap_initialize) X(ldap_set_option) X(ldap_get_option) X(ldap_err2string) \
	X(ldap_str2dn) X(ldap_dnfree) X(ldap_memfree) X(ldap_unbind_ext_s) \
	X(ldap_start_tls_s) X(ldap_sasl_bind_s) X(ldap_search_ext_s) X(ldap_connect) \
	X(ldap_first_entry) X(ldap_next_entry) X(ldap_first_attribute) \
	X(ldap_next_attribute) X(ldap_get_values_len) X(ldap_value_free_len) \
	X(ldap_msgfree) X(ber_free)

struct psm_ldap_fns {
#define PSM_LDAP_PTR(f) __typeof__(f) *f;
	PSM_LDAP_FUNCTIONS(PSM_LDAP_PTR)
#undef PSM_LDAP_PTR
};

extern struct psm_ldap_fns psm_ldap;
extern void *psm_ldap_opt_on;       /* liblber's ber_pvt_opt_on (LDAP_OPT_ON) */

/* Load the library once. PSM_ERR_INTERNAL with a detail when it is not
 * installed. */
int psm_ldap_load(void);

#ifndef PSM_LDAPFN_NO_REDIRECT
#define ldap_initialize (*psm_ldap.ldap_initialize)
#define ldap_set_option (*psm_ldap.ldap_set_option)
#define ldap_get_option (*psm_ldap.ldap_get_option)
#define ldap_err2string (*psm_ldap.ldap_err2string)
#define ldap_str2dn (*psm_ldap.ldap_str2dn)
#define ldap_dnfree (*psm_ldap.ldap_dnfree)
#define ldap_memfree (*psm_ldap.ldap_memfree)
#define ldap_unbind_ext_s (*psm_ldap.ldap_unbind_ext_s)
#define ldap_start_tls_s (*psm_ldap.ldap_start_tls_s)
#define ldap_sasl_bind_s (*psm_ldap.ldap_sasl_bind_s)
#define ldap_search_ext_s (*psm_ldap.ldap_search_ext_s)
#define ldap_connect (*psm_ldap.ldap_connect)
#define ldap_first_entry (*psm_ldap.ldap_first_entry)
#define ldap_next_entry (*psm_ldap.ldap_next_entry)
#define ldap_first_attribute (*psm_ldap.ldap_first_attribute)
#define ldap_next_attribute (*psm_ldap.ldap_next_attribute)
#define ldap_get_values_len (*psm_ldap.ldap_get_values_len)
#define ldap_value_free_len (*psm_ldap.ldap_value_free_len)
#define ldap_msgfree (*psm_ldap.ldap_msgfree)
#define ber_free (*psm_ldap.ber_free)
#undef LDAP_OPT_ON
#define LDAP_OPT_ON psm_ldap_opt_on
#endif

#endif
