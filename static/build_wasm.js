// Assemble static/linear.wat into static/linear.wasm (the app embeds the .wasm; this is only needed after
// editing the .wat). Run from the repository root: npm install --no-save wabt@1.0.39 && node static/build_wasm.js
const fs = require("fs");
const path = require("path");
const here = __dirname;
require("wabt")().then((wabt) => {
  const source = fs.readFileSync(path.join(here, "linear.wat"), "utf8");
  const module = wabt.parseWat("linear.wat", source, { simd: true });
  module.validate();
  const { buffer } = module.toBinary({ write_debug_names: false });
  fs.writeFileSync(path.join(here, "linear.wasm"), Buffer.from(buffer));
  console.log(`static/linear.wasm: ${buffer.length} bytes`);
});
