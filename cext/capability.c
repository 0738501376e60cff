/* Capability sets through the raw capget/capset syscalls (version 3, 64 bits),
 * because python-prctl knows neither the ambient set nor capabilities newer
 * than its own table. Sets travel as uint64_t[3]: effective, permitted,
 * inheritable. -1 and errno on failure, like the syscalls. */
#include "capability.h"
#include <sys/syscall.h>
#include <unistd.h>

int pyrt_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
    return prctl(option, a2, a3, a4, a5);
}

int pyrt_capget(uint64_t sets[3])
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) == -1)
        return -1;
    sets[0] = data[0].effective | ((uint64_t)data[1].effective << 32);
    sets[1] = data[0].permitted | ((uint64_t)data[1].permitted << 32);
    sets[2] = data[0].inheritable | ((uint64_t)data[1].inheritable << 32);
    return 0;
}

int pyrt_capset(const uint64_t sets[3])
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(sets[0] >> (32 * i));
        data[i].permitted = (uint32_t)(sets[1] >> (32 * i));
        data[i].inheritable = (uint32_t)(sets[2] >> (32 * i));
    }
    return (int)syscall(SYS_capset, &hdr, data);
}
