/* Socket I/O over a Unix socketpair between a parent and a forked child,
   sendmsg/recvmsg, and poll. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) { perror("socketpair"); return 1; }
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        char buf[64] = {0};
        ssize_t n = recv(sv[1], buf, sizeof buf - 1, 0);
        for (ssize_t i = 0; i < n; i++) buf[i] ^= 0x20;
        send(sv[1], buf, n, 0);
        struct iovec iov[2] = {{"ms", 2}, {"g!", 2}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
        sendmsg(sv[1], &m, 0);
        _exit(0);
    }
    close(sv[1]);
    send(sv[0], "hello", 5, 0);
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    printf("poll=%d revents=%d\n", poll(&p, 1, 5000), p.revents & POLLIN);
    char buf[64] = {0};
    printf("recv=%zd [%s]\n", recv(sv[0], buf, 5, MSG_WAITALL), buf);
    char a[3] = {0}, b[3] = {0};
    struct iovec iov[2] = {{a, 2}, {b, 2}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    printf("recvmsg=%zd [%s][%s]\n", recvmsg(sv[0], &m, MSG_WAITALL), a, b);
    int status;
    waitpid(pid, &status, 0);
    printf("child=%d\n", WEXITSTATUS(status));
    return 0;
}
