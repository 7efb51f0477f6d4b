#include "judge_server/healthcheck.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace judge {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

std::string ProbeAddressFor(const std::string& listen_address) {
  if (listen_address.empty() || listen_address == "0.0.0.0") return "127.0.0.1";
  if (listen_address == "::" || listen_address == "[::]") return "::1";
  return listen_address;
}

absl::Status ProbeHealthz(const std::string& host, uint16_t port,
                          std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string where = absl::StrCat(host, " port ", port);
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    addr_len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    addr_len = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("not a numeric address: ", host));
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
  absl::Cleanup closer = [fd] { close(fd); };

  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(absl::StrCat("connect to ", where, ": ", strerror(errno)));
    }
    if (!WaitFor(fd, POLLOUT, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("connect to ", where, " timed out"));
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      return absl::UnavailableError(absl::StrCat("connect to ", where, ": ", strerror(err)));
    }
  }
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: judge_server-healthcheck\r\n"
      "Connection: close\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("send to ", where, ": ", strerror(errno)));
    } else if (!WaitFor(fd, POLLOUT, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("send to ", where, " timed out"));
    }
  }
  // The status line is all that matters.
  std::string reply;
  while (reply.find("\r\n") == std::string::npos && reply.size() < 4096) {
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      reply.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("read from ", where, ": ", strerror(errno)));
    } else if (!WaitFor(fd, POLLIN, deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat("no reply from ", where, " within ", timeout.count(), " ms"));
    }
  }
  std::string status_line = reply.substr(0, reply.find("\r\n"));
  if (status_line.rfind("HTTP/1.1 200 ", 0) == 0 || status_line.rfind("HTTP/1.0 200 ", 0) == 0) {
    return absl::OkStatus();
  }
  if (status_line.empty()) {
    return absl::UnavailableError(absl::StrCat(where, " closed the connection without a reply"));
  }
  return absl::UnavailableError(absl::StrCat("GET /healthz on ", where, ": ", status_line));
}

}  // namespace judge
