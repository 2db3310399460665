// Prints the gzip size of the initial chunk (the entry script and CSS index.html loads).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const out = "../ollama_proxy/_dashboard";
const html = readFileSync(join(out, "index.html"), "utf8");
const assets = [...html.matchAll(/(?:src|href)="\/dashboard\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
let total = 0;
for (const asset of assets) {
  const size = gzipSync(readFileSync(join(out, asset))).length;
  total += size;
  console.log(`${asset}: ${(size / 1024).toFixed(1)} KiB gzip`);
}
console.log(`initial chunk total: ${(total / 1024).toFixed(1)} KiB gzip`);
