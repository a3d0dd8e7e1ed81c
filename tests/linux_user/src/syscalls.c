/* Descriptors, polling, time, identity and limits through libc; prints
   only values that are the same on every run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    int p[2];
    printf("pipe2=%d\n", pipe2(p, O_CLOEXEC));
    printf("cloexec=%d\n", fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    int d = dup(p[1]);
    printf("dup3=%d\n", dup3(d, 20, 0));
    write(20, "abc", 3);
    int avail = -1;
    printf("fionread=%d avail=%d\n", ioctl(p[0], FIONREAD, &avail), avail);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    printf("poll=%d revents=%d\n", poll(&pf, 1, 1000), pf.revents);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {1, 0};
    printf("select=%d isset=%d\n", select(p[0] + 1, &rs, NULL, NULL, &tv), FD_ISSET(p[0], &rs));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    printf("epoll_ctl=%d\n", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    struct epoll_event out[4];
    memset(out, 0, sizeof out);
    int n = epoll_wait(ep, out, 4, 1000);
    printf("epoll_wait=%d events=%u data=%llx\n", n, out[0].events, (unsigned long long)out[0].data.u64);
    char buf[8] = {0};
    printf("read=%zd %s\n", read(p[0], buf, sizeof buf), buf);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    printf("nonblock read=%zd errno=%d\n", read(p[0], buf, 1), errno);
    printf("isatty pipe=%d errno=%d\n", isatty(p[0]), errno);
    struct timespec a, b, req = {0, 20000000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    printf("slept>=20ms %d\n", ms >= 20);
    struct timeval now;
    gettimeofday(&now, NULL);
    printf("time sane=%d\n", now.tv_sec > 1600000000 && labs(now.tv_sec - time(NULL)) < 2);
    struct utsname u;
    uname(&u);
    printf("machine=%s\n", u.machine);
    printf("ids equal host=%d\n", getuid() == geteuid() && getgid() == getegid());
    printf("pid>1=%d tid=pid %d ppid>0=%d\n", getpid() > 1, gettid() == getpid(), getppid() > 0);
    struct rlimit rl;
    printf("getrlimit=%d\n", getrlimit(RLIMIT_NOFILE, &rl));
    printf("nofile>0=%d\n", rl.rlim_cur > 0);
    struct sysinfo si;
    printf("sysinfo=%d ram>0=%d\n", sysinfo(&si), si.totalram > 0);
    unsigned char rnd[16];
    printf("getrandom=%zd\n", getrandom(rnd, sizeof rnd, 0));
    char exe[256] = {0};
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    printf("exe is self=%d\n", k > 0 && strstr(exe, "syscalls") != NULL);
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    int isa = 0;
    while (f && fgets(line, sizeof line, f)) if (strncmp(line, "isa", 3) == 0) isa = strstr(line, "rv64") != NULL;
    printf("cpuinfo isa rv64=%d\n", isa);
    printf("bad fd=%d errno=%d\n", close(999), errno);
    void *volatile bad = (void *)8;
    printf("bad ptr=%zd errno=%d\n", write(1, bad, 4), errno);
    long r = syscall(4000);
    printf("unknown=%ld errno=%d\n", r, errno);
    return 0;
}
