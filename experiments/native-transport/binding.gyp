{
  "targets": [
    {
      "target_name": "native_transport",
      "sources": ["src/transport.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
