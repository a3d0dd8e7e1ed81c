/* A SIGSEGV handler catches a bad pointer and siglongjmps out; then a
   handler for SIGUSR1 raised by the program itself, and the alternate stack. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static sigjmp_buf env;
static volatile void *fault_addr;
static volatile int usr1;
static void on_segv(int sig, siginfo_t *si, void *uc) {
    fault_addr = si->si_addr;
    siglongjmp(env, sig);
}
static void on_usr1(int sig) { usr1++; }
int main(void) {
    static char altstack[65536];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    int r = sigsetjmp(env, 1);
    if (r == 0) {
        *(volatile int *)0x10 = 1;
        puts("not reached");
        return 1;
    }
    printf("caught signal %d at %p\n", r, (void *)fault_addr);
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    printf("usr1=%d\n", usr1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);
    printf("blocked usr1=%d\n", usr1);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("unblocked usr1=%d\n", usr1);
    return 0;
}
