#include "controlplane/cluster/http_probe.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <regex>

#include "absl/strings/str_cat.h"

namespace musketeer::cluster {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

absl::StatusOr<std::string> HttpGet(const std::string& host, uint16_t port,
                                    const std::string& target, std::chrono::milliseconds deadline) {
  const std::string where = absl::StrCat(host, ":", port);
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("'", host, "' is not an IP address"));
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, where);
  req.set(http::field::user_agent, "musketeerd-probe");
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  stream.expires_after(deadline);
  stream.async_connect(asio::ip::tcp::endpoint(address, port), [&](beast::error_code e) {
    if (e) {
      ec = e;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code e2, size_t) {
      if (e2) {
        ec = e2;
        return;
      }
      http::async_read(stream, buffer, res, [&](beast::error_code e3, size_t) { ec = e3; });
    });
  });
  io.run();
  if (ec)
    return absl::UnavailableError(absl::StrCat("GET ", target, " on ", where, ": ", ec.message()));
  if (res.result_int() / 100 != 2) {
    return absl::UnavailableError(
        absl::StrCat("GET ", target, " on ", where, ": HTTP ", res.result_int()));
  }
  return std::move(res.body());
}

std::string HostnameOf(const std::string& body) {
  static const std::regex kHostname("\"hostname\"\\s*:\\s*\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(body, m, kHostname) ? m[1].str() : "";
}

}  // namespace musketeer::cluster
