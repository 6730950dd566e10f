// Preloaded into the Alto process (node --import): Alto 0.0.20 hard-codes
// `fastify.listen({ host: "0.0.0.0" })`; the devnet keeps every service on loopback.
import net from "node:net"

const host = process.env.DEVNET_LISTEN_HOST || "127.0.0.1"
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const [options] = args
  if (options && typeof options === "object" && (options.host === "0.0.0.0" || options.host === "::"))
    args[0] = { ...options, host }
  return listen.apply(this, args)
}
