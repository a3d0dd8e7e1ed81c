/* fork + execve + wait: the child runs this program again (argv[1] = "child"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        printf("child argv0=%s arg=%s\n", argv[0], argv[2]);
        return 7;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {argv[0], "child", "x1", NULL};
        char *envp[] = {"A=1", NULL};
        execve("/proc/self/exe", args, envp);
        perror("execve");
        _exit(99);
    }
    int status;
    pid_t w = waitpid(pid, &status, 0);
    printf("waited=%d exited=%d status=%d\n", w == pid, WIFEXITED(status), WEXITSTATUS(status));
    pid = fork();
    if (pid == 0) { *(volatile int *)0 = 0; _exit(0); }
    waitpid(pid, &status, 0);
    printf("signaled=%d sig=%d\n", WIFSIGNALED(status), WTERMSIG(status));
    return 0;
}
