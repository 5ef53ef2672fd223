/* p11smime: OpenLDAP's client library, loaded on first use (ldapfn.h). */
#include "config.h"

#define PSM_LDAPFN_NO_REDIRECT
#include "ldapfn.h"
#include "error.h"

#include <dlfcn.h>
#include <string.h>

struct psm_ldap_fns psm_ldap;
void *psm_ldap_opt_on;

int
psm_ldap_load(void)
{
	static void *h;
	const char *err;

	if (h != NULL)
		return 0;
	if ((h = dlopen(PSM_LDAP_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		err = dlerror();
		psm_error_set("OpenLDAP's client library %s cannot be loaded (%s); install it "
		              "(Debian: libldap-2.5-0) to use directories", PSM_LDAP_SONAME,
		              err != NULL ? err : "?");
		return PSM_ERR_INTERNAL;
	}
#define PSM_LDAP_SYM(f) \
	if ((*(void **)&psm_ldap.f = dlsym(h, #f)) == NULL) { \
		psm_error_set("OpenLDAP's client library %s has no %s", PSM_LDAP_SONAME, #f); \
		memset(&psm_ldap, 0, sizeof(psm_ldap)); \
		dlclose(h); \
		h = NULL; \
		return PSM_ERR_INTERNAL; \
	}
	PSM_LDAP_FUNCTIONS(PSM_LDAP_SYM)
#undef PSM_LDAP_SYM
	if ((psm_ldap_opt_on = dlsym(h, "ber_pvt_opt_on")) == NULL)
		psm_ldap_opt_on = &psm_ldap;    /* any pointer but NULL means on */
	return 0;
}
