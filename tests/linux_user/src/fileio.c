/* File and directory I/O through the libc wrappers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    const char *dir = argv[1];
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/sub", dir);
    if (mkdir(path, 0755)) { perror("mkdir"); return 1; }
    snprintf(path, sizeof path, "%s/sub/a.txt", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0640);
    if (fd < 0) { perror("open"); return 1; }
    struct iovec iov[2] = {{"hello ", 6}, {"world\n", 6}};
    printf("writev=%zd\n", writev(fd, iov, 2));
    printf("pwrite=%zd\n", pwrite(fd, "W", 1, 6));
    fsync(fd);
    printf("ftruncate=%d\n", ftruncate(fd, 11));
    close(fd);
    struct stat st;
    stat(path, &st);
    printf("size=%lld mode=%o nlink=%ld isreg=%d\n", (long long)st.st_size, st.st_mode & 0777,
           (long)st.st_nlink, S_ISREG(st.st_mode));
    char buf[64] = {0};
    fd = open(path, O_RDONLY);
    printf("lseek=%ld\n", (long)lseek(fd, 2, SEEK_SET));
    printf("read=%zd [%s]\n", read(fd, buf, sizeof buf - 1), buf);
    memset(buf, 0, sizeof buf);
    printf("pread=%zd [%s]\n", pread(fd, buf, 5, 0), buf);
    close(fd);
    snprintf(path2, sizeof path2, "%s/sub/b.txt", dir);
    printf("rename=%d\n", rename(path, path2));
    printf("access=%d\n", access(path2, R_OK));
    printf("open missing=%d errno=%d\n", open(path, O_RDONLY), errno);
    printf("chmod=%d\n", chmod(path2, 0600));
    stat(path2, &st);
    printf("mode=%o\n", st.st_mode & 0777);
    snprintf(path, sizeof path, "%s/sub", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) if (e->d_name[0] != '.') { printf("entry %s\n", e->d_name); n++; }
    closedir(d);
    printf("symlink=%d\n", symlink("b.txt", "/dev/null/x") == 0);
    char cwd[256];
    chdir(path);
    printf("cwd ends=%s\n", strrchr(getcwd(cwd, sizeof cwd), '/'));
    printf("unlink=%d rmdir=%d\n", unlink(path2), rmdir(path));
    FILE *f = fopen("/proc/self/maps", "r");
    printf("maps=%d\n", f != NULL && fgets(buf, sizeof buf, f) != NULL);
    return n == 1 ? 0 : 2;
}
