// Decode GBCS messages with the DCC's own parser, @smartdcc/gbcs-parser, and report what IT says.
//
// stdin:  {"messages": ["<hex>", ...], "keys": {"<EUI-64, 16 hex upper>": "<PEM: SPKI public key or X.509 cert>"}}
//         (a message may also be {"hex": "<hex>", "keys": {...}}: its keys replace the common ones for that EUI,
//         so one run can check the same message against another key)
// stdout: {"parser": {"name", "version"}, "results": [one object per message, same order]}
//
// Every field comes from the parser's (minimised) output tree; nothing is decoded here. The parser shows each
// ASN.1 element as its whole TLV in hex ("04 04 01 23 AB CD"), so this script only drops the tag and length of
// an element the parser delimited. Where the parser did not decode the content (it falls back to one raw
// "Payload" item, e.g. message code 0x012B in 0.5.0), the decoded fields are null and payload_hex is its bytes.
//
// Keys: the parser asks a key-store callback (eui, 'DS' | 'KA', {privateKey, prePayment}) => Promise<KeyObject>
// for the originator's DS public key when a message has a signature, and checks it with crypto.verify
// (SHA-256, ieee-p1363). A key the caller did not give makes the callback throw, and the parser with it: such a
// message comes back {"ok": false, "error": ...}. Private keys (MACs, decryption) are never given.
//
// The package is loaded from $GBCS_PARSER_MODULES/node_modules (a directory where it is installed), else from
// node_modules next to this script.
import { createPublicKey } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const base = process.env.GBCS_PARSER_MODULES || dirname(fileURLToPath(import.meta.url))
const require = createRequire(join(base, 'noop.js'))
const { parseGbcsMessage, minimizeMessage } = require('@smartdcc/gbcs-parser')
const { name, version } = require('@smartdcc/gbcs-parser/package.json')

const euiHex = (eui) =>
  (typeof eui === 'string' ? eui : Buffer.from(eui).toString('hex')).replace(/[-\s:]/g, '').toUpperCase()

function keyStore(keys) {
  const cache = new Map()
  return async (eui, type, options) => {
    const id = euiHex(eui)
    if (type !== 'DS' || options?.privateKey || options?.prePayment) {
      throw new Error(`no ${options?.privateKey ? 'private' : 'public'} ${type} key given for ${id}`)
    }
    if (!keys[id]) throw new Error(`no DS key given for ${id}`) // absent, or null in a per-message override
    if (!cache.has(id)) cache.set(id, createPublicKey(keys[id])) // PEM: public key or certificate
    return cache.get(id)
  }
}

const bytes = (item) => Buffer.from((item?.hex ?? '').replace(/\s/g, ''), 'hex')
const hex = (buf) => buf.toString('hex').toUpperCase()

// The value octets of one TLV element the parser delimited (tag, then a DER length).
function tlvValue(item) {
  const b = bytes(item)
  let len = b[1]
  let at = 2
  if (len & 0x80) {
    const n = len & 0x7f
    len = b.subarray(2, 2 + n).reduce((v, x) => v * 256 + x, 0)
    at = 2 + n
  }
  if (at + len !== b.length) throw new Error(`parser item ${item.hex} is not one TLV`)
  return b.subarray(at)
}

const integer = (item) => {
  if (!item) return null
  const v = tlvValue(item)
  return v.readIntBE(0, v.length)
}
const octets = (item) => (item ? hex(tlvValue(item)) : null)
// An 8-octet identity the parser shows with its length octet first ("08 00 DB ...").
const systemTitle = (item) => (item ? hex(bytes(item).subarray(1)) : null)

function extract(tree) {
  const gh = tree['Grouping Header'] ?? {}
  const code = gh['Other Information Length']?.children?.['Message Code']
  const payload = tree['Payload'] ?? {}
  const [node, top] = Object.entries(payload)[0] ?? [null, null]
  const decoded = node !== null && node !== 'Payload'
  const fields = decoded ? (top.children ?? {}) : {}
  const sig = tree['Signature']
  const valid = sig?.['Valid']?.notes
  return {
    message_code: code ? bytes(code).readUInt16BE(0) : null,
    message_code_name: code?.notes ?? null,
    cra: gh['CRA Flag'] ? bytes(gh['CRA Flag'])[0] : null,
    originator_counter: gh['Originator Counter']?.notes ?? null,
    originator: systemTitle(gh['Originator System Title']),
    target: systemTitle(gh['Recipient System Title']),
    payload_decoder: node,
    payload_hex: decoded ? null : node === null ? null : hex(bytes(top)),
    alert_code: integer(fields['Alert Code']),
    alert_name: fields['Alert Code']?.notes ?? null,
    execution_time: fields['Execution Date Time']?.notes ?? null,
    entity_id: octets(fields['Entity Id']),
    firmware_version: octets(fields['Firmware Version']),
    transfer_response_code: integer(fields['Response Code']),
    transfer_response: fields['Response Code']?.notes ?? null,
    signature_valid: valid === 'true' ? true : valid === 'false' ? false : null,
  }
}

const EMPTY = Object.fromEntries(Object.keys(extract({})).map((k) => [k, null]))

async function main() {
  let text = ''
  for await (const chunk of process.stdin) text += chunk
  const { messages, keys = {} } = JSON.parse(text)
  const normalise = (ks) => Object.fromEntries(Object.entries(ks ?? {}).map(([k, v]) => [euiHex(k), v]))
  const common = normalise(keys)
  const results = []
  for (const message of messages) {
    try {
      const own = typeof message === 'string' ? null : normalise(message.keys)
      const lookup = keyStore(own ? { ...common, ...own } : common)
      const text = typeof message === 'string' ? message : message.hex
      const tree = minimizeMessage(await parseGbcsMessage(text, lookup))
      results.push({ ok: true, error: null, ...extract(tree) })
    } catch (e) {
      results.push({ ok: false, error: String(e?.message ?? e), ...EMPTY })
    }
  }
  process.stdout.write(JSON.stringify({ parser: { name, version }, results }) + '\n')
}

main().catch((e) => {
  process.stderr.write(`check.mjs: ${e?.stack ?? e}\n`)
  process.exit(2)
})
