// Registering edgec-rpc-server with TVM's RPC tracker (python -m tvm.exec.rpc_tracker), so that
// clients ask the tracker for "a free device of kind KEY" instead of naming one.
//
// The protocol is TVM's (python/tvm/rpc/server.py, tracker.py): tracker magic, then JSON messages
// framed by an int32 length: UPDATE_INFO once, PUT [key, [port, matchkey], addr] whenever the
// server is free, GET_PENDING_MATCHKEYS every few seconds while idle. The tracker hands the
// matchkey to the one client it gives this server to; the server then accepts only that key. The
// matchkey is random (/dev/urandom), fresh after every session, and replaced when a client took it
// but never came. Whoever can ask the tracker gets a matchkey: the tracker is the gate, so it
// belongs on loopback or a trusted network.
#pragma once

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace edgec_rpc {

const int32_t kTrackerMagic = 0x2F271;
enum TrackerCode { kSuccess = 0, kPut = 3, kUpdateInfo = 5, kGetPendingMatchkeys = 7 };

// Keys travel inside JSON strings: keep them to characters that need no escaping.
inline bool PlainKey(const std::string& key) {
  if (key.empty() || key.size() > 128) return false;
  for (char c : key)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

class TrackerLink {
 public:
  // random: 24 hex digits from /dev/urandom (empty when it cannot be read).
  TrackerLink(std::string host, int port, std::string key, std::string (*random)())
      : host_(std::move(host)), port_(port), key_(std::move(key)), random_(random) {}
  ~TrackerLink() { Drop(); }

  bool connected() const { return fd_ >= 0; }
  const std::string& matchkey() const { return matchkey_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }

  // Connects, says who we are, and offers this server; false (with *why) when the tracker is not
  // there or does not speak the protocol. Retried by the caller.
  bool Connect(int server_port, std::string* why) {
    Drop();
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res) != 0 || !res)
      return *why = "cannot resolve " + host_, false;
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};  // a tracker that stops answering (or a host that drops SYNs) must not stall us
    if (fd_ >= 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    bool ok = fd_ >= 0 && connect(fd_, res->ai_addr, res->ai_addrlen) == 0;
    freeaddrinfo(res);
    if (!ok) return *why = std::string("cannot connect: ") + std::strerror(errno), Drop(), false;
    int32_t magic = kTrackerMagic;
    if (!Send(&magic, 4) || !Recv(&magic, 4) || magic != kTrackerMagic)
      return *why = "not a TVM RPC tracker", Drop(), false;
    server_port_ = server_port;
    std::string info = "[" + std::to_string(kUpdateInfo) + ", {\"key\": \"server:" + key_ +
                       "\", \"addr\": [null, " + std::to_string(server_port) + "]}]";
    if (!Call(info, "0")) return *why = "the tracker refused UPDATE_INFO", Drop(), false;
    return Put(why);
  }

  // Offers this server under a fresh matchkey (after every session, and for a stale key).
  bool Put(std::string* why) {
    std::string r = random_();
    if (r.empty()) return *why = "cannot read /dev/urandom", Drop(), false;
    matchkey_ = key_ + ":" + r;
    unmatched_ = 0;
    std::string put = "[" + std::to_string(kPut) + ", \"" + key_ + "\", [" + std::to_string(server_port_) +
                      ", \"" + matchkey_ + "\"], null]";
    if (!Call(put, "0")) return *why = "the tracker refused PUT", Drop(), false;
    return true;
  }

  // While idle: is our matchkey still waiting at the tracker? A client took it but has not come
  // for a while -> offer a new one (TVM's server does the same). False when the link broke.
  bool Check(int period_s, std::string* why) {
    std::string reply;
    std::string msg = "[" + std::to_string(kGetPendingMatchkeys) + "]";
    if (!SendJson(msg) || !RecvJson(&reply)) return *why = "lost the tracker", Drop(), false;
    if (reply.find("\"" + matchkey_ + "\"") != std::string::npos) {
      unmatched_ = 0;
      return true;
    }
    if (++unmatched_ * period_s > 4 + period_s) return Put(why);
    return true;
  }

  void Drop() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  bool Send(const void* buf, size_t n) {
    const char* p = static_cast<const char*>(buf);
    while (n) {
      ssize_t r = send(fd_, p, n, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      p += r, n -= static_cast<size_t>(r);
    }
    return true;
  }
  bool Recv(void* buf, size_t n) {
    char* p = static_cast<char*>(buf);
    while (n) {
      ssize_t r = recv(fd_, p, n, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      p += r, n -= static_cast<size_t>(r);
    }
    return true;
  }
  bool SendJson(const std::string& s) {
    int32_t len = static_cast<int32_t>(s.size());
    return Send(&len, 4) && Send(s.data(), s.size());
  }
  bool RecvJson(std::string* out) {
    int32_t len = 0;
    if (!Recv(&len, 4) || len <= 0 || len > (1 << 20)) return false;
    out->assign(static_cast<size_t>(len), '\0');
    return Recv(&(*out)[0], out->size());
  }
  bool Call(const std::string& msg, const char* want) {
    std::string reply;
    return SendJson(msg) && RecvJson(&reply) && reply == want;
  }

  std::string host_;
  int port_;
  std::string key_;
  std::string (*random_)();
  int fd_ = -1, server_port_ = 0, unmatched_ = 0;
  std::string matchkey_;
};

}  // namespace edgec_rpc
