{
  "targets": [
    {
      "target_name": "immutalog_fields",
      "sources": ["fields_check.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
