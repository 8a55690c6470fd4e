// Makes Node's built-in fetch (and SDKs built on it, like Anthropic's TypeScript SDK) follow
// HTTPS_PROXY / HTTP_PROXY / NO_PROXY, which Node 20 and 22 ignore by default:
//   NODE_OPTIONS="--import /path/to/node-env-proxy.mjs" HTTPS_PROXY=http://airlock:8080 \
//   NODE_EXTRA_CA_CERTS=/path/to/airlock-ca.pem node agent.js
// Needs the undici package where it is imported from (npm install undici). docs/recipes.md
import { EnvHttpProxyAgent, setGlobalDispatcher } from 'undici';

setGlobalDispatcher(new EnvHttpProxyAgent());
