// edgec-rpc-server: a TVM RPC server with no Python, for timing edgec models on a device.
//   edgec-rpc-server [--host 0.0.0.0] [--port 9090] [--key edgec] [--threads N] [--once]
// It speaks TVM's RPC handshake, then hands the socket to libtvm_runtime's rpc.ServerLoop.
// Uploaded files live in a private temporary folder, removed on exit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

namespace ffi = tvm::ffi;

static const int kRPCMagic = 0xFF271;
static std::string g_workdir;

static bool RecvAll(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n) {
    ssize_t r = recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

static bool SendAll(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n) {
    ssize_t r = send(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// TVM's server handshake (python/tvm/rpc/server.py): magic, "client:..." key, reply code and key.
static bool Handshake(int fd, const std::string& key) {
  int32_t magic = 0, keylen = 0;
  if (!RecvAll(fd, &magic, 4) || magic != kRPCMagic) return false;
  if (!RecvAll(fd, &keylen, 4) || keylen < 0 || keylen > 4096) return false;
  std::string client(keylen, '\0');
  if (!RecvAll(fd, &client[0], keylen)) return false;
  if (client.rfind("client:", 0) != 0) {
    int32_t code = kRPCMagic + 2;  // RPC_CODE_MISMATCH
    SendAll(fd, &code, 4);
    return false;
  }
  std::string server_key = "server:" + key;
  int32_t code = kRPCMagic, len = static_cast<int32_t>(server_key.size());
  return SendAll(fd, &code, 4) && SendAll(fd, &len, 4) && SendAll(fd, server_key.data(), server_key.size());
}

static void RegisterServerEnv() {
  ffi::Function::SetGlobal("tvm.rpc.server.workpath", ffi::Function::FromTyped([](std::string name) {
    return g_workdir + "/" + name;
  }), true);
  ffi::Function::SetGlobal("tvm.rpc.server.load_module", ffi::Function::FromTyped([](std::string name) {
    return ffi::Module::LoadFromFile(g_workdir + "/" + name);
  }), true);
}

int main(int argc, char** argv) {
  std::string host = "0.0.0.0", key = "edgec";
  int port = 9090;
  bool once = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--host" && i + 1 < argc) host = argv[++i];
    else if (a == "--port" && i + 1 < argc) port = std::atoi(argv[++i]);
    else if (a == "--key" && i + 1 < argc) key = argv[++i];
    else if (a == "--once") once = true;
    else if (a == "--threads" && i + 1 < argc) setenv("TVM_NUM_THREADS", argv[++i], 1);
    else {
      std::fprintf(stderr, "usage: edgec-rpc-server [--host H] [--port P] [--key K] [--threads N] [--once]\n");
      return 2;
    }
  }
  // TVM would take half the online CPUs (it assumes hyper-threading); boards have none.
  if (!std::getenv("TVM_NUM_THREADS")) {
    setenv("TVM_NUM_THREADS", std::to_string(sysconf(_SC_NPROCESSORS_ONLN)).c_str(), 1);
  }
  char tmpl[] = "/tmp/edgec-rpc-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  g_workdir = tmpl;
  RegisterServerEnv();
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(srv, 1) != 0) {
    std::fprintf(stderr, "error: cannot listen on %s:%d\n", host.c_str(), port);
    return 1;
  }
  std::printf("edgec-rpc-server listening on %s:%d key=%s\n", host.c_str(), port, key.c_str());
  std::fflush(stdout);
  ffi::Function loop = ffi::Function::GetGlobalRequired("rpc.ServerLoop");
  do {
    int fd = accept(srv, nullptr, nullptr);
    if (fd < 0) continue;
    if (Handshake(fd, key)) {
      try {
        loop(static_cast<int64_t>(fd));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "session ended: %s\n", e.what());
      }
    }
    close(fd);
  } while (!once);
  close(srv);
  std::string rm = "rm -rf '" + g_workdir + "'";
  return std::system(rm.c_str()) == 0 ? 0 : 1;
}
