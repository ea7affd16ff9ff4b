{
  "targets": [
    {
      "target_name": "immutalog_crypto",
      "sources": ["batch_crypto.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
