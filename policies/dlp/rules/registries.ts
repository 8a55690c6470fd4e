// Package registries: npm, PyPI, RubyGems, Docker Hub, NuGet, Cargo, JFrog.
import type { DlpRule } from '../types.ts';
import { all, basicAuth, githubChecksum, mixedChars, notIdentifier, randomToken } from '../validators.ts';
import { END, Q, re } from './shape.ts';

export const registryRules: DlpRule[] = [
  {
    id: 'npm-access-token',
    description: 'npm access token (npm_…, checksum verified)',
    pattern: re`\b(npm_[A-Za-z0-9]{36})\b`,
    keywords: ['npm_'],
    validate: githubChecksum,
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['NPM_TOKEN=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', '//npm.acme.internal/:_authToken=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'],
      nomatch: ['npm_HTO3R6fRzgg74uDnJXSKzmFGjhqDlXXvsPV1', 'npm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
    },
  },
  {
    id: 'npmrc-auth-token',
    description: 'Registry credential in an .npmrc / .yarnrc (_authToken=, _auth=, _password=)',
    pattern: re`(?:^|[^A-Za-z0-9_])(?i:_authToken|_auth|_password)[ \t]{0,4}=[ \t]{0,4}${Q}?([A-Za-z0-9_.~+/=:-]{16,512})(?:[^A-Za-z0-9_.~+/=:-]|$)`,
    keywords: ['_auth', '_password'],
    validate: all(randomToken(3.5), notIdentifier),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['//npm.acme.internal/:_authToken=rkdUW4FebwqkxiHW3dOKPtpgHDo7v2I36KjSk8VSpMzXTRGA', '_auth = Y2ktYm90OmNJa2h1RWNTckhzMjltYWE5WHYw'],
      nomatch: ['//npm.acme.internal/:_authToken=${NPM_TOKEN}', 'always-auth=true'],
    },
  },
  {
    id: 'pypi-token',
    description: 'PyPI or TestPyPI API token (pypi-AgEIcHlwaS5vcmc…)',
    pattern: re`\b(pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000})${END}`,
    keywords: ['pypi-ageichlwas5vcmc', 'pypi-agendgvzdc5wexbplm9yzw'],
    validate: randomToken(4),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmcuiob1Ow95QmDaxXfo1f0NNQfIsZNBLBeA6twj2REEFu_F-yMKd6ZTw_zs_baaOsQIKRb2chYRyXFQS5qYdUA2avRYga6qRZGww77QX-knlsPspsmWXSXqbJykmZV1VBGmV4AQ371-sKB5Nx0dGwlOE', 'TWINE_PASSWORD=pypi-AgENdGVzdC5weXBpLm9yZwLizhKB29jCgs1dAUGVGHQosF9rc2Fm13giNVgyntLYc5uOoTshyQwugIKxR6TWuQ0iYo21pqpGbfNnBDHmCMrvjllDrtujuM9myVYA6k6cZkvuut429dfnik-wp86GYipkDsRH2HFUY1NZqE9QiVun'],
      nomatch: ['pypi-AgEIcHlwaS5vcmcCWmx4GlJLb5Jtebqz7Hi', 'password = pypi-Eh2b61Lk4h8NujpTJ-nE0vmzAr23JJ0rpE48sGo1XCCzmqkNJ9BGBsIaGK9c'],
    },
  },
  {
    id: 'rubygems-api-key',
    description: 'RubyGems API key (rubygems_…)',
    pattern: re`\b(rubygems_[a-f0-9]{48})\b`,
    keywords: ['rubygems_'],
    validate: randomToken(3),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['GEM_HOST_API_KEY=rubygems_8a4f41412c0dc15786e8cdbd8459b11fccf7a8f8c4081731'],
      nomatch: ['rubygems_a03779e644f30d85bf8c6794', 'rubygems_version: 3.5.9'],
    },
  },
  {
    id: 'dockerhub-token',
    description: 'Docker Hub personal or organization access token (dckr_pat_ / dckr_oat_)',
    pattern: re`\b(dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,32})${END}`,
    keywords: ['dckr_pat_', 'dckr_oat_'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['echo dckr_pat_P1EWxZo0cw5aEasFtUNm8KqJA9J | docker login -u acmeci --password-stdin'],
      nomatch: ['dckr_pat_PzeuDnZiNF'],
    },
  },
  {
    id: 'docker-config-auth',
    description: 'Registry credentials in a Docker config.json ("auth": base64 of user:password)',
    pattern: re`\\?"auth\\?"\s{0,4}:\s{0,4}\\?"([A-Za-z0-9+/]{6,500}={0,2})\\?"`,
    keywords: ['"auth"', 'auth\\"'],
    validate: basicAuth,
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['{"auths": {"registry.acme.internal": {"auth": "YWNtZS1jaTpCR1MwYjZ3ZEp2Q2hHa2lJSExMTVhRdko="}}}'],
      nomatch: ['{"auths": {"registry.acme.internal": {"auth": ""}}}', '{"auth": "dXNlcjpjaGFuZ2VtZQ=="}'],
    },
  },
  {
    id: 'nuget-api-key',
    description: 'NuGet.org API key (oy2…)',
    pattern: re`\b(oy2[a-z0-9]{43})\b`,
    keywords: ['oy2'],
    validate: all(randomToken(3.5), mixedChars),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['dotnet nuget push pkg.nupkg --api-key oy2y8cg8wna2zii1m84dw4fo52gqn4rjwyzxopegkeqmhi --source https://nuget.acme.internal/v3/index.json'],
      nomatch: ['oy2p7zksuqnwj6gpi9itvti'],
    },
  },
  {
    id: 'crates-io-token',
    description: 'Cargo registry API token (cio…)',
    pattern: re`\b(cio[A-Za-z0-9]{32})\b`,
    keywords: ['cio'],
    validate: all(randomToken(3.5), notIdentifier),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['CARGO_REGISTRY_TOKEN=cioHpRpXaybtUI6KmPNXtetsXiNnsxnzCat'],
      nomatch: ['cioPziHXgROReYflgePWrH5', 'ciotokenplaceholdervaluexxxxxxxxxxx'],
    },
  },
  {
    id: 'jfrog-artifactory-token',
    description: 'JFrog Artifactory API key (AKCp…) or reference token (cmVmdGtuOjAxOj…)',
    pattern: re`\b(AKCp[A-Za-z0-9]{69}|cmVmdGtuOjAxOj[A-Za-z0-9]{50})\b`,
    keywords: ['akcp', 'cmvmdgtu'],
    validate: randomToken(4),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['ARTIFACTORY_API_KEY=AKCp8KvgHmsoB1pPKxFSGAZMMoFJJcpxW3WMJypsuw7On6dkYznLCnHYuGuJKSEoCIzqAJb7n', 'Authorization: Bearer cmVmdGtuOjAxOjO9T01gx0MFNDw4IQd0tLfh6UDNSCvhH8uVBuMCaHTNBn2cRywS'],
      nomatch: ['AKCpQ4GJNeU2llmUPiKyfxod'],
    },
  },
];
