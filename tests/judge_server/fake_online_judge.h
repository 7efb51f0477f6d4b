// A fake QingdaoU OnlineJudge backend for tests: an HTTP server on 127.0.0.1 (port 0)
// that records every POST to its heartbeat path and answers as OnlineJudge does:
// {"error": null, "data": null}, or {"error": "error", "data": "Invalid token"} when the
// X-JUDGE-SERVER-TOKEN header is not sha256 hex of the token it was given.
#ifndef TESTS_JUDGE_SERVER_FAKE_ONLINE_JUDGE_H_
#define TESTS_JUDGE_SERVER_FAKE_ONLINE_JUDGE_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace judge::testing {

struct RecordedHeartbeat {
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  boost::json::object json;  // empty when the body was not a JSON object
};

class FakeOnlineJudge {
 public:
  static constexpr const char* kPath = "/api/judge_server_heartbeat/";
  explicit FakeOnlineJudge(std::string token);
  ~FakeOnlineJudge();

  int port() const { return port_; }
  std::string url() const;  // http://127.0.0.1:PORT/api/judge_server_heartbeat/

  // Stops answering (connections are refused) until Resume().
  void Pause();
  void Resume();

  std::vector<RecordedHeartbeat> heartbeats() const;
  // Polls until `n` heartbeats arrived (accepted or not), or `timeout` passes.
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void Listen();
  void Accept();

  const std::string token_sha256_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  int port_ = 0;
  mutable std::mutex mu_;
  std::vector<RecordedHeartbeat> heartbeats_;
  std::thread thread_;
};

}  // namespace judge::testing

#endif  // TESTS_JUDGE_SERVER_FAKE_ONLINE_JUDGE_H_
