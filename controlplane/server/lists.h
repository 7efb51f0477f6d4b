// Pagination of the API's list answers (AIP-158) and their filters.
//
// A page token names the list, a digest of the filters it was made under, and the sort key
// of the last item it returned; the next page starts after that key. So the order is
// stable, and items made or removed between two pages neither repeat nor shift the rest. A
// token is opaque to clients (URL-safe base64); one that does not decode, belongs to another
// list, or was made under other filters is INVALID_ARGUMENT.
#ifndef CONTROLPLANE_SERVER_LISTS_H_
#define CONTROLPLANE_SERVER_LISTS_H_

#include <google/protobuf/map.h>
#include <google/protobuf/repeated_field.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "controlplane/state/state_store.h"
#include "musketeer/v1/musketeer.pb.h"

namespace musketeer::server {

// An item's key in its list's order (what a page token holds).
using PageKey = std::vector<std::string>;

inline constexpr int kMaxPageSize = 1000;

// 0 -> `default_size`; INVALID_ARGUMENT when negative; at most kMaxPageSize.
absl::StatusOr<int> PageSize(int32_t requested, int default_size);
std::string EncodePageToken(const std::string& list, const std::string& filters,
                            const PageKey& key);
// The key of the last item of the previous page.
absl::StatusOr<PageKey> DecodePageToken(const std::string& token, const std::string& list,
                                        const std::string& filters);
// The filters as one canonical string (for the token's digest).
std::string LabelsFilter(const google::protobuf::Map<std::string, std::string>& labels);
// Whether `labels` has every label of `filter` (an empty filter value matches any value).
bool MatchLabels(const google::protobuf::Map<std::string, std::string>& labels,
                 const google::protobuf::Map<std::string, std::string>& filter);

// The page of a list answer: its items' positions in the list, and the token of the page
// after it ("" at the end).
struct Page {
  std::vector<size_t> items;
  std::string next_page_token;
};

// The page of `sorted` (in `less` order) that follows `token`, keeping only the items `keep`
// accepts. A token holds the key of its page's last item (`key`); `probe` makes an item with
// that key to search from, or none when the key has another list's shape. No sort and no
// copy: the list may be shared by every reader of one snapshot.
template <class T>
absl::StatusOr<Page> TakePage(const std::vector<T>& sorted,
                              const std::function<bool(const T&)>& keep, const std::string& list,
                              const std::string& filters, int32_t page_size, int default_size,
                              const std::string& token,
                              const std::function<PageKey(const T&)>& key,
                              const std::function<std::optional<T>(const PageKey&)>& probe,
                              const std::function<bool(const T&, const T&)>& less) {
  auto size = PageSize(page_size, default_size);
  if (!size.ok()) return size.status();
  auto it = sorted.begin();
  if (!token.empty()) {
    auto after = DecodePageToken(token, list, filters);
    if (!after.ok()) return after.status();
    auto from = probe(*after);
    if (!from)
      return absl::InvalidArgumentError(
          absl::StrCat("page_token: not a page token of the ", list, " list"));
    it = std::upper_bound(sorted.begin(), sorted.end(), *from, less);
  }
  Page page;
  for (; it != sorted.end(); ++it) {
    if (!keep(*it)) continue;
    if (static_cast<int>(page.items.size()) >= *size) {  // one more matches: a next page
      page.next_page_token = EncodePageToken(list, filters, key(sorted[page.items.back()]));
      break;
    }
    page.items.push_back(it - sorted.begin());
  }
  return page;
}

// A list answer's wire bytes: each item of `page` (its bytes from `items`) as field
// `items_field`, then its next_page_token as field `token_field`, as the response message
// would serialize.
std::string SerializePage(const Page& page, const std::vector<std::string>& items,
                          int items_field, int token_field);

// The list methods' filters and pages over what the cluster answered (in its lists' order:
// NodeListOrder, services by name, TaskListOrder).
absl::StatusOr<Page> PageNodes(const musketeer::v1::ListNodesRequest& req,
                               const std::vector<musketeer::v1::Node>& nodes);
absl::Status PageServices(const musketeer::v1::ListServicesRequest& req,
                          const std::vector<musketeer::v1::Service>& services,
                          musketeer::v1::ListServicesResponse* out);
absl::StatusOr<Page> PageTasks(const musketeer::v1::ListTasksRequest& req,
                               const std::vector<musketeer::v1::Task>& tasks);
// Reads the page from the store (newest first).
absl::Status PageAudit(const musketeer::v1::ListAuditRequest& req, state::StateStore& store,
                       musketeer::v1::ListAuditResponse* out);

}  // namespace musketeer::server

#endif  // CONTROLPLANE_SERVER_LISTS_H_
