/*
 * Workloads and probes for tests/bench/bench.py. The bench compiles this file
 * with gcc at run time (`gcc -O2 -o helper helper.c`). Every mode prints
 * `key=value` lines on stdout and exits non-zero when something went wrong.
 *
 * Modes (run as the main child of the init under test unless noted):
 *   pause                     idle child: sleeps in pause(2) until killed
 *   spawnloop ROUNDS K {N ARGV...}*K
 *                             (outside) runs K commands round-robin ROUNDS
 *                             times, prints `run ROUND CMD NS` per run
 *   reapdead N                N children exit, their parent exits without
 *                             waiting: the init gets N zombies at once
 *   reaplive N                N living children are orphaned, then all exit
 *   storm WORKERS N           WORKERS processes double-fork N short-lived
 *                             orphans in all
 *   sigrecv SHMFILE           counts every signal and stamps its arrival
 *   sigsend N SPACING_US LOSS_MS SHMFILE PID [SHMFILE PID]...
 *                             (outside) kill()s each PID with SIGUSR1 N times,
 *                             round-robin, then every forwardable signal
 *                             (lost when not there within LOSS_MS)
 *
 * Time is CLOCK_MONOTONIC everywhere (the same clock in every PID namespace).
 * The init's CPU time is read through clock_getcpuclockid(1): nanosecond
 * resolution, all of its threads, as it is in the kernel's accounting.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "helper: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* CPU time the init (PID 1 of our namespace) has used so far, or -1. */
static int64_t init_cpu_ns(void) {
    clockid_t clk;
    struct timespec ts;
    if (getpid() == 1 || clock_getcpuclockid(1, &clk) != 0 || clock_gettime(clk, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Processes in our (namespace's) /proc other than PID 1 and ourselves. */
static int other_processes(void) {
    DIR *d = opendir("/proc");
    if (!d)
        die("opendir /proc");
    int n = 0;
    pid_t me = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (pid != 1 && pid != me)
            n++;
    }
    closedir(d);
    return n;
}

static void *shared_pages(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

/* Waits until every pid in `pids` is gone (reaped by someone), at most
 * `limit_ns`. kill(pid, 0) succeeds on a zombie, so ESRCH means reaped.
 * Returns how many are left. */
static int wait_all_reaped(const pid_t *pids, int n, int64_t limit_ns) {
    int64_t deadline = now_ns() + limit_ns;
    int i = 0;
    while (i < n) {
        if (kill(pids[i], 0) != 0 && errno == ESRCH) {
            i++;
            continue;
        }
        if (now_ns() > deadline)
            break;
        sleep_ns(50000);
    }
    int left = 0;
    for (; i < n; i++)
        if (!(kill(pids[i], 0) != 0 && errno == ESRCH))
            left++;
    return left;
}

static int mode_pause(void) {
    for (;;)
        pause();
    return 0;
}

/* ---- start-up: round-robin spawn loop ---------------------------------- */

static int mode_spawnloop(int argc, char **argv) {
    int rounds = atoi(argv[0]);
    int k = atoi(argv[1]);
    char **cmds[64];
    int at = 2;
    if (k < 1 || k > 64)
        return 2;
    for (int c = 0; c < k; c++) {
        int n = atoi(argv[at++]);
        cmds[c] = calloc(n + 1, sizeof(char *));
        for (int j = 0; j < n; j++)
            cmds[c][j] = argv[at++];
        if (at > argc)
            return 2;
    }
    int failed = 0;
    for (int r = 0; r < rounds; r++) {
        for (int c = 0; c < k; c++) {
            pid_t pid;
            int status;
            int64_t t0 = now_ns();
            if (posix_spawn(&pid, cmds[c][0], NULL, NULL, cmds[c], environ) != 0)
                die("posix_spawn");
            while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                    die("waitpid");
            int64_t t1 = now_ns();
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                printf("fail %d %d status=%d\n", r, c, status);
                failed = 1;
            }
            printf("run %d %d %lld\n", r, c, (long long)(t1 - t0));
        }
    }
    return failed;
}

/* ---- reaping ------------------------------------------------------------ */

static void print_reap(int n, int64_t t0, int64_t t1, int64_t c0, int64_t c1, int left) {
    printf("n=%d\ntime_ns=%lld\ninit_cpu_ns=%lld\nleft=%d\n", n, (long long)(t1 - t0),
           (long long)(c0 >= 0 && c1 >= 0 ? c1 - c0 : -1), left);
}

/* N children exit; their parent makes sure every one is a zombie
 * (waitid with WNOWAIT), then exits without reaping any: the kernel hands
 * all N zombies to the init at once. */
static int mode_reapdead(int n) {
    pid_t *pids = shared_pages(sizeof(pid_t) * n);
    int go[2], ready[2];
    if (pipe(go) || pipe(ready))
        die("pipe");
    pid_t middle = fork();
    if (middle < 0)
        die("fork");
    if (middle == 0) {
        for (int i = 0; i < n; i++) {
            pid_t c = fork();
            if (c < 0)
                die("fork");
            if (c == 0)
                _exit(0);
            pids[i] = c;
        }
        for (int i = 0; i < n; i++) {
            siginfo_t si;
            while (waitid(P_PID, pids[i], &si, WEXITED | WNOWAIT) != 0)
                if (errno != EINTR)
                    die("waitid");
        }
        char b = 1;
        if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(3);
        _exit(0);
    }
    char b;
    if (read(ready[0], &b, 1) != 1)
        die("middle failed");
    sleep_ns(20000000); /* let the init settle after the fork burst */
    int64_t c0 = init_cpu_ns();
    int64_t t0 = now_ns();
    if (write(go[1], &b, 1) != 1)
        die("write");
    int status;
    if (waitpid(middle, &status, 0) != middle || !WIFEXITED(status) || WEXITSTATUS(status))
        die("middle");
    int left = wait_all_reaped(pids, n, 30LL * 1000000000);
    int64_t t1 = now_ns();
    int64_t c1 = init_cpu_ns();
    print_reap(n, t0, t1, c0, c1, left);
    return left != 0;
}

/* N living children, orphaned when their parent exits, then all released
 * at once (EOF on a pipe only we hold open). */
static int mode_reaplive(int n) {
    pid_t *pids = shared_pages(sizeof(pid_t) * n);
    int gate[2];
    if (pipe(gate))
        die("pipe");
    pid_t middle = fork();
    if (middle < 0)
        die("fork");
    if (middle == 0) {
        close(gate[1]);
        for (int i = 0; i < n; i++) {
            pid_t c = fork();
            if (c < 0)
                die("fork");
            if (c == 0) {
                char b;
                while (read(gate[0], &b, 1) < 0 && errno == EINTR) {
                }
                _exit(0);
            }
            pids[i] = c;
        }
        _exit(0);
    }
    close(gate[0]);
    int status;
    if (waitpid(middle, &status, 0) != middle || !WIFEXITED(status) || WEXITSTATUS(status))
        die("middle");
    sleep_ns(20000000);
    int64_t c0 = init_cpu_ns();
    int64_t t0 = now_ns();
    close(gate[1]);
    int left = wait_all_reaped(pids, n, 30LL * 1000000000);
    int64_t t1 = now_ns();
    int64_t c1 = init_cpu_ns();
    print_reap(n, t0, t1, c0, c1, left);
    return left != 0;
}

/* WORKERS workers double-fork N orphans in all: each orphan's parent exits
 * at once, the orphan exits at once. Total time runs until no process but
 * PID 1 and us is left (with no init, we are PID 1 and nobody reaps: the
 * zombies left are counted once the workers are done). */
static int mode_storm(int workers, int n) {
    int64_t c0 = init_cpu_ns();
    int64_t t0 = now_ns();
    pid_t w[256];
    if (workers < 1 || workers > 256)
        return 2;
    for (int i = 0; i < workers; i++) {
        int count = n / workers + (i < n % workers);
        w[i] = fork();
        if (w[i] < 0)
            die("fork");
        if (w[i] == 0) {
            for (int j = 0; j < count; j++) {
                pid_t p = fork();
                if (p < 0)
                    die("fork");
                if (p == 0) {
                    pid_t g = fork();
                    _exit(g < 0 ? 1 : 0); /* the orphan (g == 0) exits too */
                }
                int status;
                while (waitpid(p, &status, 0) < 0)
                    if (errno != EINTR)
                        die("waitpid");
                if (!WIFEXITED(status) || WEXITSTATUS(status))
                    _exit(3);
            }
            _exit(0);
        }
    }
    int failed = 0;
    for (int i = 0; i < workers; i++) {
        int status;
        while (waitpid(w[i], &status, 0) < 0)
            if (errno != EINTR)
                die("waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status))
            failed = 1;
    }
    int64_t t_forked = now_ns();
    int left;
    if (getpid() == 1) {
        sleep_ns(50000000); /* the last orphans finish exiting */
        left = other_processes();
    } else {
        int64_t deadline = t_forked + 20LL * 1000000000;
        while ((left = other_processes()) > 0 && now_ns() < deadline)
            sleep_ns(500000);
    }
    int64_t t1 = now_ns();
    int64_t c1 = init_cpu_ns();
    printf("n=%d\nforks_ns=%lld\ntime_ns=%lld\ninit_cpu_ns=%lld\nleft=%d\nfailed=%d\n", n,
           (long long)(t_forked - t0),
           (long long)(getpid() == 1 ? t_forked - t0 : t1 - t0),
           (long long)(c0 >= 0 && c1 >= 0 ? c1 - c0 : -1), left, failed);
    return failed;
}

/* ---- signals ------------------------------------------------------------ */

#define NSIG_MAX 65
struct sigshm {
    volatile uint32_t ready;
    volatile uint32_t seq[NSIG_MAX];    /* deliveries of each signal */
    volatile int64_t stamp[NSIG_MAX];   /* CLOCK_MONOTONIC of the latest */
};

static struct sigshm *map_shm(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        die(path);
    if (ftruncate(fd, sizeof(struct sigshm)) != 0)
        die("ftruncate");
    void *p = mmap(NULL, sizeof(struct sigshm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        die("mmap");
    close(fd);
    return p;
}

static long futex(volatile uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static struct sigshm *recv_shm;

static void on_signal(int sig) {
    int64_t t = now_ns();
    recv_shm->stamp[sig] = t;
    __atomic_fetch_add(&recv_shm->seq[sig], 1, __ATOMIC_RELEASE);
    futex(&recv_shm->seq[sig], FUTEX_WAKE, 1, NULL);
}

static int mode_sigrecv(const char *path) {
    recv_shm = map_shm(path);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig = 1; sig <= SIGRTMAX && sig < NSIG_MAX; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || (sig > 31 && sig < SIGRTMIN))
            continue;
        sigaction(sig, &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    __atomic_store_n(&recv_shm->ready, 1, __ATOMIC_RELEASE);
    for (;;)
        pause();
    return 0;
}

/* Sends `sig` to `pid` and waits (at most limit_ns) for the receiver to
 * count it. Returns the latency in ns, or -1 when it never arrived. */
static int64_t send_and_wait(struct sigshm *s, pid_t pid, int sig, int64_t limit_ns) {
    uint32_t before = __atomic_load_n(&s->seq[sig], __ATOMIC_ACQUIRE);
    int64_t t0 = now_ns();
    if (kill(pid, sig) != 0)
        return -1;
    int64_t deadline = t0 + limit_ns;
    for (;;) {
        if (__atomic_load_n(&s->seq[sig], __ATOMIC_ACQUIRE) != before)
            return s->stamp[sig] - t0;
        int64_t left = deadline - now_ns();
        if (left <= 0)
            return -1;
        struct timespec ts = {left / 1000000000, left % 1000000000};
        futex(&s->seq[sig], FUTEX_WAIT, before, &ts);
    }
}

static int mode_sigsend(int argc, char **argv) {
    int n = atoi(argv[0]);
    long spacing_ns = atol(argv[1]) * 1000;
    int64_t loss_ns = atol(argv[2]) * 1000000LL;
    argc--, argv++;
    int k = (argc - 2) / 2;
    struct sigshm *shm[32];
    pid_t pid[32];
    if (k < 1 || k > 32)
        return 2;
    for (int e = 0; e < k; e++) {
        shm[e] = map_shm(argv[2 + 2 * e]);
        pid[e] = atoi(argv[3 + 2 * e]);
        int64_t deadline = now_ns() + 10LL * 1000000000;
        while (!__atomic_load_n(&shm[e]->ready, __ATOMIC_ACQUIRE)) {
            if (now_ns() > deadline) {
                printf("notready %d\n", e);
                return 1;
            }
            sleep_ns(1000000);
        }
    }
    sleep_ns(50000000);
    for (int i = 0; i < n; i++)
        for (int e = 0; e < k; e++) {
            int64_t lat = send_and_wait(shm[e], pid[e], SIGUSR1, 1000000000);
            printf("lat %d %lld\n", e, (long long)lat);
            sleep_ns(spacing_ns);
        }
    /* Every signal an init should pass on. SIGTSTP goes late and SIGCONT
     * right after it: dumb-init stops itself on SIGTSTP and would drop all
     * the rest. SIGABRT goes last: an init that dies of it (tini does)
     * cannot hide the result of the others. */
    int sigs[NSIG_MAX], ns = 0;
    int standard[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM,
                      SIGSTKFLT, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM,
                      SIGPROF, SIGWINCH, SIGIO, SIGPWR};
    for (size_t i = 0; i < sizeof standard / sizeof *standard; i++)
        sigs[ns++] = standard[i];
    for (int s = SIGRTMIN; s <= SIGRTMAX && s < NSIG_MAX; s++)
        sigs[ns++] = s;
    sigs[ns++] = SIGTSTP;
    sigs[ns++] = SIGCONT;
    sigs[ns++] = SIGABRT;
    for (int i = 0; i < ns; i++)
        for (int e = 0; e < k; e++) {
            int64_t lat = send_and_wait(shm[e], pid[e], sigs[i], loss_ns);
            printf("sig %d %d %lld\n", e, sigs[i], (long long)lat);
        }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (argc < 2)
        return 2;
    const char *mode = argv[1];
    int rc = 2;
    if (!strcmp(mode, "pause"))
        rc = mode_pause();
    else if (!strcmp(mode, "spawnloop") && argc >= 4)
        rc = mode_spawnloop(argc - 2, argv + 2);
    else if (!strcmp(mode, "reapdead") && argc == 3)
        rc = mode_reapdead(atoi(argv[2]));
    else if (!strcmp(mode, "reaplive") && argc == 3)
        rc = mode_reaplive(atoi(argv[2]));
    else if (!strcmp(mode, "storm") && argc == 4)
        rc = mode_storm(atoi(argv[2]), atoi(argv[3]));
    else if (!strcmp(mode, "sigrecv") && argc == 3)
        rc = mode_sigrecv(argv[2]);
    else if (!strcmp(mode, "sigsend") && argc >= 7 && argc % 2 == 1)
        rc = mode_sigsend(argc - 2, argv + 2);
    else
        fprintf(stderr, "helper: bad arguments\n");
    fflush(stdout);
    return rc;
}
