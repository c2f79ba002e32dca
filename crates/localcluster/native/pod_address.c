/*
 * Loaded (LD_PRELOAD) into the programs localcluster runs for pods of mapped images. In a pod,
 * a server that listens on every address (0.0.0.0 or ::) listens on the pod's own network
 * namespace, whose address is the pod IP; on a shared machine it would take the port on every
 * address, and two pods of one image would collide. Binding to the unspecified address is made a
 * bind to the pod IP (LOCALCLUSTER_POD_IP) instead: the port is the pod's, as in Kubernetes.
 * Other binds (a loopback address, a given address) are left alone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *address, socklen_t length) {
    static bind_fn next_bind;
    if (!next_bind) {
        next_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    }
    const char *pod_ip = getenv("LOCALCLUSTER_POD_IP");
    struct in_addr pod;
    if (address == NULL || pod_ip == NULL || inet_pton(AF_INET, pod_ip, &pod) != 1) {
        return next_bind(fd, address, length);
    }
    if (address->sa_family == AF_INET && length >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in4;
        memcpy(&in4, address, sizeof in4);
        if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
            in4.sin_addr = pod;
            return next_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
        }
    } else if (address->sa_family == AF_INET6 && length >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, address, sizeof in6);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr)) {
            /* The pod IP as an IPv4-mapped address, which a dual-stack socket accepts. */
            int v6_only = 0;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof v6_only);
            memset(&in6.sin6_addr, 0, sizeof in6.sin6_addr);
            in6.sin6_addr.s6_addr[10] = 0xff;
            in6.sin6_addr.s6_addr[11] = 0xff;
            memcpy(&in6.sin6_addr.s6_addr[12], &pod, sizeof pod);
            return next_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
        }
    }
    return next_bind(fd, address, length);
}
