// The DCC's own GBCS parser (@smartdcc/gbcs-parser) on MAC'd GBCS messages: what IT says of each MAC and signature.
//
// stdin:  {"acb": "<ACB EUI-64 hex>", "keys": {"<eui hex>-<KA|DS>-<private|public>": "<PEM>"}, "messages": ["<hex>"]}
// stdout: [{"mac": "valid" | "invalid" | ..., "signature": "true" | "false" | null}, one per message, same order]
//
// The parser asks a key-store callback (eui, 'KA' | 'DS', {privateKey}) for the keys it needs: for a MAC it takes
// one party's private KA key and the other's public one (for a command the ACB is one party), then derives the key
// and checks the GCM tag itself. Nothing here derives or checks anything. A key not given makes the callback throw
// (the parser then tries the other pairing). The package is loaded from $GBCS_PARSER_MODULES/node_modules.
const { createPrivateKey, createPublicKey } = require('node:crypto')
const { join } = require('node:path')
const { createRequire } = require('node:module')

const load = createRequire(join(process.env.GBCS_PARSER_MODULES, 'noop.js'))
const { parseGbcsMessage } = load('@smartdcc/gbcs-parser')

const euiHex = (eui) => (typeof eui === 'string' ? eui : Buffer.from(eui).toString('hex')).replace(/[-\s:]/g, '')

function findNotes(tree, name, found = []) {
  for (const [key, item] of Object.entries(tree)) {
    if (key === name) found.push(item.notes ?? null)
    if (item && item.children) findNotes(item.children, name, found)
  }
  return found
}

let input = ''
process.stdin.on('data', (chunk) => (input += chunk))
process.stdin.on('end', async () => {
  const { acb, keys, messages } = JSON.parse(input)
  const lookup = async (eui, type, options) => {
    const id = `${euiHex(eui).toLowerCase()}-${type}-${options?.privateKey ? 'private' : 'public'}`
    if (!keys[id]) throw new Error(`no key ${id}`)
    return options?.privateKey ? createPrivateKey(keys[id]) : createPublicKey(keys[id])
  }
  const out = []
  for (const hex of messages) {
    const tree = await parseGbcsMessage(hex, lookup, acb)
    const macs = findNotes(tree, 'MAC').filter((notes) => notes !== null)
    const valid = findNotes(tree, 'Valid')
    out.push({ mac: macs.length ? macs[0] : null, signature: valid.length ? valid[0] : null })
  }
  process.stdout.write(JSON.stringify(out))
})
