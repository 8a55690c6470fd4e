{
  "targets": [
    {
      "target_name": "airlock_dlp",
      "sources": ["src/addon.cc", "src/chunker.cc", "src/deflate.cc", "src/engine.cc", "src/scan.cc", "src/shapes.cc", "src/toplevel.cc", "src/views.cc"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "<!@(pkg-config --cflags libhs re2)"],
      "libraries": ["<!@(pkg-config --libs libhs re2)"]
    }
  ]
}
