// A stand-in for INDIGO IAM on the molecule network: the certified `oidc-provider` (npm)
// with known accounts, a `groups` claim and one confidential client (the hub). Instead of
// oidc-provider's devInteractions (which accept any password), /interaction/<uid> serves a
// small login form and checks the password, so a refused password is really refused.
// Usage: node oidc-provider.mjs /etc/oidc-provider/config.json
import http from 'node:http';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = cfg.users;

const provider = new Provider(cfg.issuer, {
  clients: cfg.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  cookies: { keys: cfg.cookie_keys },
  // IAM releases `groups` to relying parties asking for profile: mimic that.
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name', 'groups'],
    email: ['email', 'email_verified'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: user.name || id,
          email: `${id}@example.org`,
          email_verified: true,
          groups: user.groups,
        };
      },
    };
  },
  // First-party client: grant the requested scopes without a consent page (as IAM does for
  // pre-approved clients).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    await grant.save();
    return grant;
  },
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(res, uid, status, message) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><title>Sign in</title>
<p>${escape(message)}</p>
<form method="post" action="/interaction/${escape(uid)}/login">
<input name="username" autocomplete="username"><input name="password" type="password">
<button type="submit">Sign in</button></form>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const oidc = provider.callback();
http.createServer(async (req, res) => {
  const match = req.url.match(/^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/);
  if (!match) return oidc(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'POST' && match[2]) {
      const form = await readForm(req);
      const name = form.get('username') || '';
      if (!users[name] || users[name].password !== form.get('password')) {
        return loginForm(res, details.uid, 401, 'Invalid user name or password');
      }
      return await provider.interactionFinished(req, res, { login: { accountId: name } },
        { mergeWithLastSubmission: false });
    }
    return loginForm(res, details.uid, 200, `Sign in to ${details.params.client_id}`);
  } catch (err) {
    res.statusCode = 400;
    res.end(`interaction failed: ${err.message}\n`);
  }
}).listen(cfg.port, () => console.log(`oidc-provider ${cfg.issuer} listening on ${cfg.port}`));
