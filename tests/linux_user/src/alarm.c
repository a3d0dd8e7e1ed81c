/* A blocking read interrupted by SIGALRM: EINTR without SA_RESTART; with
   SA_RESTART the read restarts and gets the data a child writes later. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile int alarms;
static void on_alarm(int s) { alarms++; }
int main(void) {
    int p[2];
    pipe(p);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    char c;
    ssize_t n = read(p[0], &c, 1);
    printf("read=%zd errno=%s alarms=%d\n", n, n < 0 && errno == EINTR ? "EINTR" : "other", alarms);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pid_t pid = fork();
    if (pid == 0) { sleep(2); write(p[1], "z", 1); _exit(0); }
    alarm(1);
    n = read(p[0], &c, 1);
    printf("restarted read=%zd c=%c alarms=%d\n", n, n == 1 ? c : '?', alarms);
    waitpid(pid, NULL, 0);
    return 0;
}
