/* sigwait for a blocked signal raised by the program; sigtimedwait timing out. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
int main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR2);
    int sig = 0;
    printf("sigwait=%d sig=%d\n", sigwait(&set, &sig), sig);
    struct timespec ts = {0, 50000000};
    printf("timedwait=%d errno=%d\n", sigtimedwait(&set, NULL, &ts), errno);
    return 0;
}
