/* TCP over loopback: bind to port 0, listen, a forked client connects,
   accept4, send/recv, shutdown; socket options. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1, val = 0;
    socklen_t vl = sizeof val;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &val, &vl);
    printf("reuseaddr=%d len=%u\n", val != 0, vl);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    printf("bind=%d listen=%d\n", bind(s, (struct sockaddr *)&a, sizeof a), listen(s, 1));
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    printf("port>0=%d\n", ntohs(a.sin_port) > 0);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a)) _exit(1);
        sendto(c, "ping", 4, 0, NULL, 0);
        char b[8] = {0};
        recv(c, b, 4, MSG_WAITALL);
        _exit(strcmp(b, "pong") ? 2 : 0);
    }
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int c = accept4(s, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
    printf("accept ok=%d peer loopback=%d\n", c >= 0, peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    char b[8] = {0};
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    printf("recvfrom=%zd [%s]\n", recvfrom(c, b, 4, MSG_WAITALL, (struct sockaddr *)&from, &fl), b);
    send(c, "pong", 4, 0);
    int st;
    waitpid(pid, &st, 0);
    printf("client=%d shutdown=%d\n", WEXITSTATUS(st), shutdown(c, SHUT_RDWR));
    return 0;
}
