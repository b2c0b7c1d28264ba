// A module-load hook for contracts.mjs: it keeps the options of @vercel/sdk's `smartUnion` on the schema.
//
// The SDK builds each `smartUnion([...])` as `z.unknown().transform(...)` with the options in a closure,
// so a walk over the schema could not see inside it. This hook wraps the exported function so that the
// returned schema also carries `_def.smartOptions` (the same option schemas, unchanged); parsing is not
// altered. If the SDK's source no longer has the anchor below, the hook fails loudly rather than let the
// contract check go blind.
const ANCHOR = "export function smartUnion(options) {";

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!url.includes("/@vercel/sdk/esm/types/smartUnion.js")) {
    return result;
  }
  const source = String(result.source);
  if (!source.includes(ANCHOR)) {
    throw new Error(`@vercel/sdk's types/smartUnion.js has no "${ANCHOR}": update smart-union-hook.mjs`);
  }
  const wrapped = source.replace(
    ANCHOR,
    "export function smartUnion(options) {\n" +
      "    const schema = smartUnionOriginal(options);\n" +
      "    schema._def.smartOptions = options;\n" +
      "    return schema;\n" +
      "}\n" +
      "function smartUnionOriginal(options) {",
  );
  return { ...result, source: wrapped, shortCircuit: true };
}
