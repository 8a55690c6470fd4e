// Source hosting: GitHub, GitLab, Bitbucket / Atlassian.
import type { DlpRule } from '../types.ts';
import { githubChecksum, randomToken } from '../validators.ts';
import { END, re } from './shape.ts';

// GitHub's classic token families share one shape: prefix, 30 random base62, 6-char CRC32.
const github = (id: string, prefixes: string[], description: string, match: string[], nomatch: string[]): DlpRule => ({
  id,
  description,
  pattern: re`\b((?:${prefixes.join('|')})_[A-Za-z0-9]{36})\b`,
  keywords: prefixes.map((p) => `${p}_`),
  validate: githubChecksum,
  severity: 'critical',
  action: 'block',
  examples: { match, nomatch },
});

export const vcsRules: DlpRule[] = [
  github(
    'github-pat',
    ['ghp'],
    'GitHub personal access token, classic (ghp_…, checksum verified)',
    ['GITHUB_TOKEN=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', 'git clone https://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@github.com/acme/infra.git'],
    ['GITHUB_TOKEN=ghp_KeAfaLztdgFy7Mo7t9b9hJwF1rvpt93bFBzA', 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', '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0'],
  ),
  github(
    'github-oauth-token',
    ['gho'],
    'GitHub OAuth access token (gho_…, checksum verified)',
    ['{"access_token": "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", "token_type": "bearer"}'],
    ['gho_JLZVX8cxHtO80dNW3TQSc3QOCJu9SK00ryIA'],
  ),
  github(
    'github-app-token',
    ['ghu', 'ghs'],
    'GitHub App user-to-server or installation token (ghu_… / ghs_…, checksum verified)',
    ['Authorization: token ghs_t223HGmehuLvjTcf13aLtO7gQMQfOe0g04gQ', 'GH_TOKEN=ghu_OZ7yhGywL8Wbt76dFlbUCwl62h0gy02zDrof'],
    ['ghs_Ocr7wvIq0JmNP4JWnNbapgiKJrBHka2PksYA'],
  ),
  github(
    'github-refresh-token',
    ['ghr'],
    'GitHub App refresh token (ghr_…, checksum verified)',
    ['"refresh_token": "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"'],
    ['ghr_7n5WFeW1N535JmevAiIX2Trr7KYUpL0R7klA'],
  ),
  {
    id: 'github-fine-grained-pat',
    description: 'GitHub fine-grained personal access token (github_pat_…)',
    pattern: re`\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b`,
    keywords: ['github_pat_'],
    validate: randomToken(4),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['GITHUB_TOKEN=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'],
      nomatch: ['github_pat_Yoyw4Ml6BuE1sDYN19pkcs_gYi05ddDmZVSnJqoCenMXXi8uIRnFT', 'github_pat_xxxxxxxxxxxxxxxxxxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
    },
  },
  {
    id: 'gitlab-pat',
    description: 'GitLab personal, project or group access token (glpat-…)',
    pattern: re`\b(glpat-[A-Za-z0-9_-]{20,64}(?:\.[0-9a-z]{2}\.[0-9a-z]{9})?)${END}`,
    keywords: ['glpat-'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['GITLAB_TOKEN=glpat-x7BsehtGVR8R9-A_-gAn', 'PRIVATE-TOKEN: glpat-g6DmZzgAUjm34JpQMk9J8nbINli.01.c2at9pwi3'],
      nomatch: ['glpat-mBdz-4YiVUnt', 'GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx'],
    },
  },
  {
    id: 'gitlab-pipeline-trigger-token',
    description: 'GitLab pipeline trigger token (glptt-…)',
    pattern: re`\b(glptt-[a-f0-9]{40})\b`,
    keywords: ['glptt-'],
    validate: randomToken(3),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['curl -X POST --form token=glptt-2f4f431b4f7ed0b981dca84f0d2328fd282da3d4 --form ref=main https://gitlab.com/api/v4/projects/42/trigger/pipeline'],
      nomatch: ['glptt-9b6da2fc75c77bdb891c'],
    },
  },
  {
    id: 'gitlab-runner-token',
    description: 'GitLab runner authentication token (glrt-…) or legacy runner registration token (GR1348941…)',
    pattern: re`\b((?:glrt-|GR1348941)[A-Za-z0-9_-]{20,64})${END}`,
    keywords: ['glrt-', 'gr1348941'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['gitlab-runner register --token glrt-TLk2YuTh-zFLYEABz-Hu', 'registration-token: GR13489416vcf7x7h8yP6LoaA4PfM'],
      nomatch: ['glrt-zDVtmVHT2F'],
    },
  },
  {
    id: 'gitlab-other-token',
    description: 'Other GitLab tokens: deploy (gldt-), OAuth app secret (gloas-), feed (glft-), CI job (glcbt-), incoming mail (glimt-), agent (glagent-), SCIM (glsoat-), feature flags (glffct-)',
    pattern: re`\b((?:gldt|gloas|glft|glcbt|glimt|glagent|glsoat|glffct)-[A-Za-z0-9_-]{20,80})${END}`,
    keywords: ['gldt-', 'gloas-', 'glft-', 'glcbt-', 'glimt-', 'glagent-', 'glsoat-', 'glffct-'],
    validate: randomToken(3.5),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['docker login -u gitlab+deploy-token-7 -p gldt-0T5rZ3eGN9IN5G4QzoBy registry.gitlab.com', 'secret: gloas-1e7ad0a40a0cdb3ea8bebb496359e1eb72114922279862ba4a343ef33955703a'],
      nomatch: ['gldt-q2uvcfdS'],
    },
  },
  {
    id: 'bitbucket-app-password',
    description: 'Bitbucket app password (ATBB…)',
    pattern: re`\b(ATBB[A-Za-z0-9_=.-]{32})(?:[^A-Za-z0-9_=.-]|$)`,
    keywords: ['atbb'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['BITBUCKET_APP_PASSWORD=ATBBsFKF2G7UZANp8R6gGOB4KiGREKlQag3K'],
      nomatch: ['ATBBUeL3hIddIl9jH7lvnBse'],
    },
  },
  {
    id: 'atlassian-api-token',
    description: 'Atlassian API token (ATATT3…: Jira, Confluence) or Bitbucket access token (ATCTT3…)',
    pattern: re`\b((?:ATATT|ATCTT)3[A-Za-z0-9_=-]{180,200})(?:[^A-Za-z0-9_=-]|$)`,
    keywords: ['atatt3', 'atctt3'],
    validate: randomToken(4),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['JIRA_API_TOKEN=ATATT3xFfGF0iQhadWJgZwE1B1GHNfpjGmWH6xIpIvlSaCk01-SLhT8d2hnYRkW4OJzGpCGW3pQaOfaZ3BHfJk3UTkyHYPR4XJjK_rtw-2_YCEVdzN0S_KZNnZwv1vJ6ubCAABDcSJ80Br7HVVIJ4lmawCsoWkbAQmOa9Aj0qIIPj37YUv0xZBaS=C96EF6CF', 'Authorization: Bearer ATCTT3xFfGN0mRIZb8KIZBV4fHmQ8bUt_0_tAxZ6ywqjkQb8SIIr4YNdoDsTc0CsRrsb2cF3jIZ5WqKrEVZPqOhOdmgaudiqtm2HVyRj5upHSHjv7hC1ksqPobA6BUY-LJgBVTNkRqdfFU5BF8QWXbM467i7Af2aUtKFyz0zTTQkV3-tzbTEq1dOZXuk4FFS'],
      nomatch: ['ATATT3GfzFt9hQ8OJg2efBxOe_FXROBLjrjELzSKcXAUsW'],
    },
  },
];
