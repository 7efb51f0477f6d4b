#include "controlplane/server/call_metrics.h"

#include <chrono>
#include <string>

namespace musketeer::server {
namespace {
namespace gx = grpc::experimental;

// grpc::StatusCode as Prometheus labels spell gRPC codes (grpc-ecosystem's go-grpc-prometheus).
const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",       "Canceled",      "Unknown",           "InvalidArgument", "DeadlineExceeded",
      "NotFound", "AlreadyExists", "PermissionDenied",  "ResourceExhausted",
      "FailedPrecondition", "Aborted", "OutOfRange",     "Unimplemented",   "Internal",
      "Unavailable", "DataLoss",  "Unauthenticated"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "Unknown";
}

class CallInterceptor final : public gx::Interceptor {
 public:
  CallInterceptor(telemetry::Metrics& metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(std::chrono::steady_clock::now()) {
    metrics_.Add("musketeer_grpc_calls_in_flight", {{"method", method_}}, 1);
  }
  ~CallInterceptor() override {
    // A call cancelled before its status was sent still leaves the in-flight count.
    metrics_.Add("musketeer_grpc_calls_in_flight", {{"method", method_}}, -1);
  }
  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      // Every answer says it is musketeerd's: the CLI then never takes an UNAVAILABLE of
      // an engine for musketeerd being unreachable (its exit code 3).
      methods->GetSendTrailingMetadata()->emplace("musketeer-answered", "1");
      const grpc::Status status = methods->GetSendStatus();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_.Add("musketeer_grpc_calls_total",
                   {{"method", method_}, {"code", CodeName(status.error_code())}});
      metrics_.Observe("musketeer_grpc_call_seconds", {{"method", method_}}, seconds);
    }
    methods->Proceed();
  }

 private:
  telemetry::Metrics& metrics_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
};

class Factory final : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(telemetry::Metrics& metrics) : metrics_(metrics) {
    // In flight is a gauge kept with Add (+1, -1): declared as one.
    metrics_.DescribeGauge("musketeer_grpc_calls_in_flight",
                           "gRPC calls being answered, by method (long operations included)");
    metrics_.DescribeCounter("musketeer_grpc_calls_total", "gRPC calls answered, by method and code");
    metrics_.DescribeHistogram("musketeer_grpc_call_seconds",
                               "time from a call's start to its status, by method");
  }
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new CallInterceptor(metrics_, info->method() ? info->method() : "unknown");
  }

 private:
  telemetry::Metrics& metrics_;
};
}  // namespace

std::unique_ptr<gx::ServerInterceptorFactoryInterface> NewCallMetrics(telemetry::Metrics& metrics) {
  return std::make_unique<Factory>(metrics);
}

}  // namespace musketeer::server
