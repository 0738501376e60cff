/* libseccomp is declared directly in seccomp.cdef; only its function-like
 * macros need a C body to be callable from Python. */
/* Angle brackets: found through -Icext, so its #include_next reaches libseccomp. */
#include <seccomp.h>

uint32_t pyrt_scmp_act_errno(uint32_t ret) { return SCMP_ACT_ERRNO(ret); }
uint32_t pyrt_scmp_act_trace(uint32_t ret) { return SCMP_ACT_TRACE(ret); }
