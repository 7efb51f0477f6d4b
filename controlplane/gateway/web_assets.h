// The page's files (controlplane/gateway/web/), embedded in the binary at build time by
// embed_assets.cmake: musketeerd serves them without reading the disk or the internet.
#ifndef CONTROLPLANE_GATEWAY_WEB_ASSETS_H_
#define CONTROLPLANE_GATEWAY_WEB_ASSETS_H_

#include <cstddef>
#include <string_view>

namespace musketeer::gateway {

struct WebAsset {
  const char* path;          // "/index.html", "/app.js", ...
  const char* content_type;  // with charset for text
  const char* data;
  size_t size;
};

// The asset served at `path`, or null.
const WebAsset* FindWebAsset(std::string_view path);

}  // namespace musketeer::gateway

#endif  // CONTROLPLANE_GATEWAY_WEB_ASSETS_H_
