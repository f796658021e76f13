// edgec-rpc-server: a TVM RPC server with no Python, for timing edgec models on a device.
//   edgec-rpc-server [--host 127.0.0.1] [--port 9090] [--key KEY] [--threads N] [--once]
//                    [--handshake-timeout S] [--idle-timeout S] [--tracker HOST:PORT]
// It speaks TVM's RPC handshake, then hands the socket to libtvm_runtime's rpc.ServerLoop. With
// --tracker it registers with TVM's RPC tracker under KEY (the device kind clients ask for) and
// accepts only the one-time key the tracker gives a client (rpc_tracker.h).
//
// An RPC client can upload a library and run it: whoever can connect can run code as this user.
// So: it listens on loopback unless --host says otherwise (then it warns, and without --key it
// makes up a random key and prints it); the client must send the key (TVM's RPC key: "client:KEY"
// in the handshake); file names from the client are plain names inside a private temporary
// folder (no "..", "/", or symlinks), emptied after every session and removed on exit, SIGINT and
// SIGTERM (after SIGKILL: by the next server); each session runs in a child process (a crashing
// model cannot take the server down), one at a time (timings are not disturbed), with a handshake
// timeout and an idle timeout so a silent client cannot hold the device; SIGPIPE is ignored (a
// vanished client is an error, not a kill).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include "rpc_tracker.h"

namespace ffi = tvm::ffi;

namespace {

const int kRPCMagic = 0xFF271;
const int kBacklog = 16;
std::string g_workdir;
volatile sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

bool RecvAll(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR && !g_stop) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool SendAll(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n) {
    ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR && !g_stop) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void SetTimeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// TVM's server handshake (python/tvm/rpc/server.py): magic, "client:KEY[ options]", then the
// reply code and "server:KEY". A wrong key gets RPC_CODE_MISMATCH, as TVM's own server answers.
// `accept` is the key a client must send: KEY itself, or the tracker's one-time matchkey.
bool Handshake(int fd, const std::string& accept, const std::string& key, std::string* why) {
  int32_t magic = 0, keylen = 0;
  if (!RecvAll(fd, &magic, 4) || magic != kRPCMagic) return *why = "not a TVM RPC client", false;
  if (!RecvAll(fd, &keylen, 4) || keylen < 0 || keylen > 4096) return *why = "bad key length", false;
  std::string client(static_cast<size_t>(keylen), '\0');
  if (keylen && !RecvAll(fd, &client[0], static_cast<size_t>(keylen))) return *why = "no key", false;
  std::string first = client.substr(0, client.find(' '));
  if (accept.empty() || first != "client:" + accept) {  // empty: no tracker has a matchkey of ours yet
    int32_t code = kRPCMagic + 2;  // RPC_CODE_MISMATCH
    SendAll(fd, &code, 4);
    return *why = "wrong key", false;
  }
  std::string server_key = "server:" + key;
  int32_t code = kRPCMagic, len = static_cast<int32_t>(server_key.size());
  if (!(SendAll(fd, &code, 4) && SendAll(fd, &len, 4) && SendAll(fd, server_key.data(), server_key.size())))
    return *why = "client went away", false;
  return true;
}

// A client's file name as a path in the work folder: a plain name, nothing that could leave it.
std::string WorkPath(const std::string& name) {
  bool plain = !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
               name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
  if (!plain)
    TVM_FFI_THROW(ValueError) << "edgec-rpc-server refuses the file name '" << name
                              << "': uploads are plain file names inside the server's own folder";
  std::string path = g_workdir + "/" + name;
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
    TVM_FFI_THROW(ValueError) << "edgec-rpc-server refuses '" << name << "': it is a symlink";
  return path;
}

void RegisterServerEnv() {
  // libtvm_runtime's tvm.rpc.server.upload / download / remove all resolve names through this.
  ffi::Function::SetGlobal("tvm.rpc.server.workpath", ffi::Function::FromTyped([](std::string name) {
    return WorkPath(name);
  }), true);
  ffi::Function::SetGlobal("tvm.rpc.server.load_module", ffi::Function::FromTyped([](std::string name) {
    return ffi::Module::LoadFromFile(WorkPath(name));
  }), true);
}

void EmptyWorkdir() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(g_workdir, ec)) std::filesystem::remove_all(e.path(), ec);
}

// SIGKILL leaves a server no chance to remove its folder; the next server removes the folders of
// servers of this user that are gone (the folder name carries its server's pid).
void RemoveStaleWorkdirs() {
  const std::string prefix = "edgec-rpc-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
    std::string name = e.path().filename().string();
    size_t dash = name.find('-', prefix.size());
    if (name.rfind(prefix, 0) != 0 || dash == std::string::npos || dash == prefix.size() || dash - prefix.size() > 9)
      continue;
    std::string pid = name.substr(prefix.size(), dash - prefix.size());
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat st;
    if (lstat(e.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) continue;
    if (kill(static_cast<pid_t>(std::stol(pid)), 0) == 0 || errno != ESRCH) continue;  // alive: leave it
    std::error_code rm;
    std::filesystem::remove_all(e.path(), rm);
  }
}

bool IsLoopback(const std::string& host) { return host.rfind("127.", 0) == 0 || host == "localhost"; }

std::string RandomKey() {
  unsigned char b[12] = {0};
  std::FILE* f = std::fopen("/dev/urandom", "rb");
  if (!f || std::fread(b, 1, sizeof(b), f) != sizeof(b)) {
    if (f) std::fclose(f);
    return "";
  }
  std::fclose(f);
  std::string key;
  for (unsigned char c : b) key += "0123456789abcdef"[c >> 4], key += "0123456789abcdef"[c & 15];
  return key;
}

// Serve one authenticated client in a child process; returns when it is done (or on a signal).
void ServeSession(int fd, int srv, int idle_timeout) {
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return;
  }
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    close(srv);
    SetTimeout(fd, idle_timeout);  // a silent client ends the session instead of holding the device
    int rc = 0;
    try {
      ffi::Function::GetGlobalRequired("rpc.ServerLoop")(static_cast<int64_t>(fd));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "session ended: %s\n", e.what());
      rc = 1;
    }
    std::fflush(stderr);
    _exit(rc);
  }
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, 0);
    if (r == pid) {
      if (WIFSIGNALED(status)) std::fprintf(stderr, "session ended by signal %d\n", WTERMSIG(status));
      break;
    }
    if (r < 0 && errno == EINTR) {
      if (g_stop) kill(pid, SIGKILL);
      continue;
    }
    break;
  }
}

int Usage() {
  std::fprintf(stderr,
               "usage: edgec-rpc-server [--host H] [--port P] [--key K] [--threads N] [--once] "
               "[--handshake-timeout S] [--idle-timeout S] [--tracker HOST:PORT]\n");
  return 2;
}

bool ParseInt(const char* s, long lo, long hi, int* out) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", key, tracker;
  int port = 9090, handshake_timeout = 10, idle_timeout = 120, tracker_port = 0;
  bool once = false, host_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has = i + 1 < argc;
    if (a == "--once") once = true;
    else if (a == "--host" && has) host = argv[++i], host_given = true;
    else if (a == "--port" && has) { if (!ParseInt(argv[++i], 0, 65535, &port)) return Usage(); }
    else if (a == "--key" && has) key = argv[++i];
    else if (a == "--tracker" && has) {
      tracker = argv[++i];
      size_t colon = tracker.rfind(':');
      if (colon == std::string::npos || colon == 0 || !ParseInt(tracker.c_str() + colon + 1, 1, 65535, &tracker_port))
        return std::fprintf(stderr, "error: --tracker takes HOST:PORT, got '%s'\n", tracker.c_str()), 2;
      tracker.resize(colon);
    }
    else if (a == "--threads" && has) setenv("TVM_NUM_THREADS", argv[++i], 1);
    else if (a == "--handshake-timeout" && has) { if (!ParseInt(argv[++i], 1, 86400, &handshake_timeout)) return Usage(); }
    else if (a == "--idle-timeout" && has) { if (!ParseInt(argv[++i], 1, 86400, &idle_timeout)) return Usage(); }
    else return Usage();
  }
  bool exposed = host_given && !IsLoopback(host);
  if (!tracker.empty()) {
    if (!edgec_rpc::PlainKey(key))
      return std::fprintf(stderr, "error: --tracker needs --key KIND, the device kind clients ask the tracker for "
                                  "(letters, digits, '.', '_', '-'; e.g. --key rpi4)\n"), 2;
    if (!exposed && !IsLoopback(tracker))
      return std::fprintf(stderr, "error: the tracker at %s:%d would give clients this machine's network address, "
                                  "but the server listens on loopback only; add --host 0.0.0.0 (trusted networks "
                                  "only)\n", tracker.c_str(), tracker_port), 2;
  }
  bool key_shown = key.empty();
  if (key.empty()) key = exposed ? RandomKey() : "edgec";
  if (key.empty()) {
    std::fprintf(stderr, "error: cannot read /dev/urandom for a key; pass --key\n");
    return 1;
  }
  if (host == "localhost") host = "127.0.0.1";
  // TVM would take half the online CPUs (it assumes hyper-threading); boards have none.
  if (!std::getenv("TVM_NUM_THREADS")) {
    setenv("TVM_NUM_THREADS", std::to_string(sysconf(_SC_NPROCESSORS_ONLN)).c_str(), 1);
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: accept() and waitpid() return EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int yes = 1;
  setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (srv < 0 || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(srv, kBacklog) != 0) {
    std::fprintf(stderr, "error: cannot listen on %s:%d (%s)\n", host.c_str(), port, std::strerror(errno));
    return 1;
  }
  socklen_t alen = sizeof(addr);
  getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &alen);
  port = ntohs(addr.sin_port);
  RemoveStaleWorkdirs();
  std::string tmpl = "/tmp/edgec-rpc-" + std::to_string(getpid()) + "-XXXXXX";
  if (!mkdtemp(&tmpl[0])) {
    std::perror("mkdtemp");
    return 1;
  }
  g_workdir = tmpl;
  RegisterServerEnv();
  if (exposed)
    std::fprintf(stderr,
                 "warning: listening on %s:%d is reachable from the network; any client with the key can run "
                 "code here as this user. Use it on a trusted network only.\n", host.c_str(), port);
  std::printf("edgec-rpc-server listening on %s:%d key=%s\n", host.c_str(), port,
              key_shown ? key.c_str() : "(as given)");
  std::unique_ptr<edgec_rpc::TrackerLink> link;
  if (!tracker.empty()) link.reset(new edgec_rpc::TrackerLink(tracker, tracker_port, key, RandomKey));
  std::fflush(stdout);
  std::fflush(stderr);
  const int kPingPeriod = 2;  // seconds between tracker checks while idle (TVM's server: 2)
  time_t retry_at = 0;
  bool told_lost = false;
  while (!g_stop) {
    if (link && !link->connected() && time(nullptr) >= retry_at) {
      std::string why;
      if (link->Connect(port, &why)) {
        std::fprintf(stderr, "registered with the RPC tracker at %s as '%s'\n", link->address().c_str(), key.c_str());
        told_lost = false;
      } else {
        if (!told_lost) std::fprintf(stderr, "RPC tracker at %s: %s; retrying every 5 s\n", link->address().c_str(),
                                     why.c_str());
        told_lost = true;
        retry_at = time(nullptr) + 5;
      }
      std::fflush(stderr);
    }
    pollfd p{srv, POLLIN, 0};
    int ready = poll(&p, 1, link ? kPingPeriod * 1000 : -1);
    if (ready == 0 && link && link->connected()) {
      std::string why;
      if (!link->Check(kPingPeriod, &why)) std::fprintf(stderr, "RPC tracker: %s; reconnecting\n", why.c_str());
    }
    if (ready <= 0) continue;  // a timeout, or EINTR (a signal: the loop condition decides)
    int fd = accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    SetTimeout(fd, handshake_timeout);  // a client that never speaks is dropped, not waited for
    std::string why;
    // With a tracker, only the client it handed our current matchkey to gets in.
    if (Handshake(fd, link ? link->matchkey() : key, key, &why)) {
      ServeSession(fd, srv, idle_timeout);
      EmptyWorkdir();  // the next client never sees this one's files
      std::string twhy;
      if (link && link->connected() && !link->Put(&twhy))  // free again: offer a fresh matchkey
        std::fprintf(stderr, "RPC tracker: %s; reconnecting\n", twhy.c_str());
    } else {
      std::fprintf(stderr, "refused a connection: %s\n", why.c_str());
    }
    close(fd);
    if (once && why.empty()) break;
  }
  close(srv);
  std::error_code ec;
  std::filesystem::remove_all(g_workdir, ec);
  return ec ? 1 : 0;
}
