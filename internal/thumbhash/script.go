package thumbhash

import _ "embed"

// Script is thumbhash.js, the decoder for web pages, for servers that
// serve it beside their pages (photod does, at /ui/thumbhash.js). It is
// an ES module.
//
//go:embed thumbhash.js
var Script []byte
