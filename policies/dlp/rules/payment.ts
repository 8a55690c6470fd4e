// Payments and commerce: live keys only (test-mode keys move no money).
import type { DlpRule } from '../types.ts';
import { all, notIdentifier, randomToken } from '../validators.ts';
import { assigned, END, END64, re } from './shape.ts';

export const paymentRules: DlpRule[] = [
  {
    id: 'stripe-secret-key',
    description: 'Stripe live secret key (sk_live_…)',
    pattern: re`\b(sk_live_[A-Za-z0-9]{24,247})\b`,
    keywords: ['sk_live_'],
    validate: all(randomToken(3.5), notIdentifier),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['STRIPE_SECRET_KEY=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', 'stripe.api_key = "sk_live_070fYZg29Eof7bD2pQVXdCGE"'],
      nomatch: ['STRIPE_SECRET_KEY=sk_test_51MPVhhh2wWINk6dKzvZE6Oa6XIMJWfhqItRL17CvENE0SFZr2j7wagbioFqKEXZxmRcgdJsbxM69jV610xCA14SmzVQF5Mnobz', 'sk_live_ggzusdd6wb', 'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx'],
    },
  },
  {
    id: 'stripe-restricted-key',
    description: 'Stripe live restricted key (rk_live_…)',
    pattern: re`\b(rk_live_[A-Za-z0-9]{24,247})\b`,
    keywords: ['rk_live_'],
    validate: all(randomToken(3.5), notIdentifier),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['STRIPE_KEY=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'],
      nomatch: ['rk_test_51EeFtcZK6gZ2eLNP0EOVmA8DTbvRACfE3Miri1m1oOe6UmlXbu8wbxzjEy14xxoRn0kpXCnUbSQ1OxX0SUT8gIrfirYFFnRPmX'],
    },
  },
  {
    id: 'stripe-webhook-secret',
    description: 'Stripe webhook signing secret (whsec_…)',
    pattern: re`\b(whsec_[A-Za-z0-9+/]{32,88}={0,2})${END64}`,
    keywords: ['whsec_'],
    validate: all(randomToken(3.5), notIdentifier),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['STRIPE_WEBHOOK_SECRET=whsec_Wrue8G8KrYA4cvpZtaAQSx61d9Z3sNV1'],
      nomatch: ['whsec_jUA0dCULhIZGZFb5', 'STRIPE_WEBHOOK_SECRET=whsec_...'],
    },
  },
  {
    id: 'square-access-token',
    description: 'Square production access token (EAAA…, or the older sq0atp-…)',
    pattern: re`\b(EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22})${END}`,
    keywords: ['eaaa', 'sq0atp-'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['SQUARE_ACCESS_TOKEN=EAAAZYixlDHroMZFK48q1vaOYfGPB6_f2aLP055SoMfOK2DfFM3Q_ZkRZY8nBIX7', 'square_token: sq0atp-qW7aCn581V1t66FKXDrOyU'],
      nomatch: ['EAAA4imzbtSB47Xu92g9S7s8Evj43BbKqQ', 'sq0atp-nJQTxP8-9S'],
    },
  },
  {
    id: 'square-oauth-secret',
    description: 'Square application OAuth secret (sq0csp-…)',
    pattern: re`\b(sq0csp-[A-Za-z0-9_-]{43})${END}`,
    keywords: ['sq0csp-'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['SQUARE_APP_SECRET=sq0csp-lA2idqEEuiLTINlNSZr5xBmp2HuoF1Z7m9NLs8UQmBK'],
      nomatch: ['sq0csp-6ZGxv-SpFAU-Kb4aFB7F'],
    },
  },
  {
    id: 'braintree-access-token',
    description: 'PayPal Braintree production access token (access_token$production$…)',
    pattern: re`\b(access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32})\b`,
    keywords: ['access_token$production$'],
    validate: randomToken(3),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['BRAINTREE_ACCESS_TOKEN=access_token$production$byxjvaaphxhgm034$0c3d57c4c436f9b6feb7e6377d13fe8f'],
      nomatch: ['access_token$sandbox$0vu0jqfoaimwzyo4$113528e8c7128d9c56f9810359512578'],
    },
  },
  {
    id: 'paypal-client-secret',
    description: 'PayPal REST API client secret (80 characters next to a paypal secret name)',
    pattern: assigned(re`paypal[A-Za-z0-9_.-]{0,16}secret`, '[A-Za-z0-9_-]{80}'),
    keywords: ['paypal'],
    validate: all(randomToken(4), notIdentifier),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['PAYPAL_CLIENT_SECRET=ErAOtDFW8BhXJmbo09_r66fQvuxWMW0ZuL6ai72SLs886hnl8vuTLgcLjjkXxuyq0x8OIBfqB285orFE'],
      nomatch: ['PAYPAL_CLIENT_ID=AFk-agIK5JUVolyYda9ebIHuKoxI5NW0kfpaTfZmobH43vBGmaiKekoXSVFvVSRiYW0Jy8XPRzT68IKx', 'PAYPAL_CLIENT_SECRET=${PAYPAL_SECRET}'],
    },
  },
  {
    id: 'shopify-token',
    description: 'Shopify Admin API access token (shpat_), custom/private app token (shpca_/shppa_) or shared secret (shpss_)',
    pattern: re`\b(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b`,
    keywords: ['shpat_', 'shpca_', 'shppa_', 'shpss_'],
    validate: randomToken(3),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['X-Shopify-Access-Token: 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', 'SHOPIFY_API_SECRET=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'],
      nomatch: ['shpat_88a05e2b7739a1582541', 'shpat_00000000000000000000000000000000'],
    },
  },
  {
    id: 'plaid-access-token',
    description: 'Plaid production access token (access-production-<uuid>)',
    pattern: re`\b(access-production-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b`,
    keywords: ['access-production-'],
    validate: randomToken(3),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['{"access_token": "access-production-ea6bae67-ad0b-4472-a48e-7a5e7e9181b7"}'],
      nomatch: ['{"access_token": "access-sandbox-d0729c98-e8d0-4b45-a0b8-5c30e6339abc"}'],
    },
  },
];
