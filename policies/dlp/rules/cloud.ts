// Cloud providers: AWS, Google Cloud, Azure, DigitalOcean, Heroku, Alibaba, IBM, Cloudflare.
import type { DlpRule } from '../types.ts';
import { all, keyBlock, notAwsExample, notIdentifier, randomToken } from '../validators.ts';
import { armored, assigned, END, END64, re } from './shape.ts';

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

export const cloudRules: DlpRule[] = [
  {
    id: 'aws-access-key-id',
    description: 'AWS access key ID (AKIA long-term, ASIA temporary, and the other IAM key prefixes)',
    pattern: re`\b((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})\b`,
    keywords: ['akia', 'asia', 'abia', 'acca', 'a3t'],
    validate: all(notAwsExample, randomToken(3)),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['aws_access_key_id = AKIARWWAV5VD7N3IYF7J', '{"AccessKeyId": "ASIAKOIJDHYJLFZMZHOD", "Expiration": "2024-06-01T00:00:00Z"}'],
      nomatch: ['aws_access_key_id = AKIAIOSFODNN7EXAMPLE', 'AKIAFIAKLERGKAO44RHJQ7', 'AKIANC7C5KFQ3SFU', 'key=AKIAXXXXXXXXXXXXXXXX'],
    },
  },
  {
    id: 'aws-secret-access-key',
    description: 'AWS secret access key (40 base64 characters next to an aws_secret / SecretAccessKey name)',
    pattern: assigned(re`secret[_-]?access[_-]?key|aws[_-]?secret`, '[A-Za-z0-9/+]{40}', re`(?:[^A-Za-z0-9/+=]|$)`),
    keywords: ['secretaccesskey', 'secret_access_key', 'secret-access-key', 'aws_secret', 'aws-secret', 'awssecret'],
    validate: all(notAwsExample, randomToken(4), notIdentifier),
    severity: 'critical',
    action: 'block',
    examples: {
      match: [
        '[default]\naws_access_key_id = AKIAIJQ63HYSKOSDCBTL\naws_secret_access_key = rNGqzkzz/LQx1EoIz+B3QpHQpPlEabOxjazPR8I0\n',
        'export AWS_SECRET_ACCESS_KEY="tIHFX7qZuv5xuMkh18uxb/L/gimSAlXkDckQrKZm"',
        '{"Credentials": {"SecretAccessKey": "4RCejw5L8c8/VnhD7HKq9kDM+/X66zX64Dxbf+CT"}}',
      ],
      nomatch: [
        'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        'aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}',
        'aws_secret_access_key = hpm3+4ICmPDd5eX/J9mVyEA4BolyXJ8D7xf/61COpKjw',
        'secret_access_key: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      ],
    },
  },
  {
    id: 'aws-session-token',
    description: 'AWS STS session token (temporary credentials; starts IQoJb3JpZ2luX2Vj or FwoGZXIvYXdzE)',
    pattern: re`(?:^|[^A-Za-z0-9+/])((?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE)[A-Za-z0-9+/]{100,1000}[A-Za-z0-9+/]{0,1000}={0,2})${END64}`,
    keywords: ['iqojb3jpz2lux2vj', 'fwogzxivyxdze'],
    validate: randomToken(4.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['aws_session_token = IQoJb3JpZ2luX2VjjS7fXp6qjLBNQnUSVjDc1SfG8qIzwXelB8TuOkNsS8mNry0LuHPOwoIot27Wo5xpCIDJKIdWOaNxGVgpfXEySSyyLIeBlVLBRzUH/QPIASN/rYck+JWsPSE/1zzpXWqXR5YUZqNqaGGI26o28TUtn0kWj0rlzKyQOuDFV9WF9QHTB84ceq/exQFLJBQin6UqPpf2YIRfq48cY2W/x/TQR5wRufrW960/d1qpmFIYBypzzk1+VsMiq38mlZ6d1DFItJeLzeztGfz1HpDvKSo+pRTLuTBJFdTyfrvcxku8lnaWltIA+p94kTO2J359RtGBcqMuw5CyRouikx8G28jck7qn2cek2JumJouMRlOXPaumRMMd8+5foHwc6oUL', '"SessionToken": "FwoGZXIvYXdzEjkhgO0uoTGfRzMu+NEdvVN3UWDBHCpLBUdV4/0JXuzrYNnhz5ibPSzKXB+00JchSIncfjhoc4tsCJSSa/oHQ08U0rUUoDNba39CUwmbDjtDPtm3TQp1OEg92Ccp/lGtySqwN2RnX6kjE7wd+Ta/m0L5CgOYnJuVk/S/7odwjnbxpnjhrwaZdxMoPnBISPRwUeCooumfrb8eoiMA8bfD0hhnFpLQYpCYZFQ+UdAKibGWCfwax9FO7wOT25l0k2gr+Ya6LGw96rFz5xyUeh3Xt/LZiYjXqzevjew=="'],
      nomatch: ['token = IQoJb3JpZ2luX2VjBTU5XIeAauPruLGAltxfWebBly5t55UtfFXmdSne', 'aws_session_token = ${AWS_SESSION_TOKEN}'],
    },
  },
  {
    id: 'gcp-service-account-key',
    description: 'Google Cloud service-account key file (JSON with "type": "service_account" and its private key)',
    // Key files list "type" first; sorted dumps list it last: either order, the private key included.
    pattern: (() => {
      const name = (n: string) => re`\\?"${n}\\?"\s{0,4}:\s{0,4}\\?"`;
      const key = armored('PRIVATE KEY');
      return re`${name('type')}service_account\\?"[^{}]{0,800}?${name('private_key')}${key}|${name('private_key')}${key}[^{}]{0,1000}?${name('type')}service_account`;
    })(),
    keywords: ['service_account'],
    validate: keyBlock,
    severity: 'critical',
    action: 'block',
    examples: {
      match: [
        '{\n  "type": "service_account",\n  "project_id": "acme-prod-4471",\n  "private_key_id": "ea010127d7dd24eb94b45d08ea46e29e01b8e194",\n  "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIQT6mtISS2ka86vusWmxQbYJ7kkoRZbGBWdZPfkeNudzg2oYTGD7r/Ecy2uwlG\\nkN2UO+YZ1zEwulhlidaDCc8y7KY7VQTc8J1FQ0EfrCFmSSEP56VHLyAT9ri7L6Q5\\nYcKdND7AqP95ZOD9saQvnZcCHaCFVPb53ScyIQ9gT6FN2UHN5hBtlPRySyHvRBgF\\ncKEPjGI69ZkxquB5pwRB0LX/3834itJX+V6zFciJAQbcdB7w4Jmzna5UfYaE8Ddl\\nUqkC37EkxiBWwkDMq4FqBjm0mgFfKsEGoQ7DfKg0tftKZx89xJcmjdvG7jBza2no\\nRAyD2MEUJl6Q4xa88Re18DNj6ptP9Sr1DAaZlb6gGBPySEMbrVFQ7ctFsFnuxQTZ\\n4QajfnaSqwEMkQR/B2twF2DNmEc9sVxz+C0GfmrXHIQcYKQoT4YhAH7vN1RQh/hK\\nPaIYdN+EfAEisvFaec2BtJWc81MUhDarJFQLxQg/PO9A9d5ZD5Kq4VRYtK/++66p\\na/3hDwRPYu4qsGV67eLwRl35/ztiba5ZvR1b5wsonBZp+Ohh7t/GLVdiHiBqMU0Y\\n0giWR2G6fR5NBMzLferJPL3h2KrzBHkaVaJgvJ5DGzzhDClyhlYj8x1iqLIlQ5dt\\nm3PucWm7Gz4pcl34cx9JxKt6jbwQk4j40upIjuaLQN2r1ADRDi5582VjAa7Ir0sR\\nlP7mUJ1NdJUSt864S9zPjevtF/pt2UMq8iQJgFfX7LTH\\n-----END PRIVATE KEY-----\\n",\n  "client_id": "510846457204140888952"\n}',
        '{"client_id": "182414635892517674921", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIITM7EqHpA9j9faHjEoAX9OQ0nguKKOlJr/eoVLybS2A7agRPBLfIePvf+E8q21\\nKK8UtYfhQWwOM3AbK7C4kU8pELyMo0IqwbZlhRgvKfUfj7hMCJDU4EZGSoTzqKDF\\nAzHsw3oG8J8HVvYffh5e2zX1NV5EHn9jlIROJU26Z+PDcZTZ0jB3Z2T6Ra+n5f7y\\n+ARZEaTUqjiKajJOnhjAny9dUbf7YDaH8njy5FvifkDBYbb3O4B+MWXPFdP/SOjj\\nfJITXkYEK+zbdEduEoZ4pRBhfRBZkd2WepYoRUrmlKXiLG7Ai7W42hhGwE37Aw0d\\ni5f7lsYDosee0JVf33RnOX2HEcM/EzpYFJIDrkBYm12GAFz3tiB+SA9beLcOSooU\\nNNCf5opZXqCBGxKzybXNHICIt6hPOykh/cRIlZHfWyDfr0G0o2xPQwnjpka2sr4X\\nxdPlR9EibT4oHYbdNgiua8VA44Puq5Vgy3mLx6s7woj1Ihtso8lvdmUHV6O3LdT4\\nKAWiwkdk8xPjH6umOJ0PK6bEf8OBjGXm++86gP/KqLYaQS/2eFrUj1m7cgZTyHbs\\nxEapqWGQNivGflz1FSejPksQGr1tw8h5InZ1f0b7azZu\\n-----END PRIVATE KEY-----\\n", "private_key_id": "df8df19b1e0a6506ab30fbccd8a0b48ea5377fec", "project_id": "acme-ml", "type": "service_account"}',
      ],
      nomatch: [
        '{"type": "service_account", "project_id": "acme", "private_key": "-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n"}',
        '{"type": "authorized_user", "client_id": "898453421867.apps.googleusercontent.com"}',
      ],
    },
  },
  {
    id: 'gcp-api-key',
    description: 'Google API key (AIza…: Maps, Firebase, Gemini / AI Studio and other Google APIs)',
    pattern: re`\b(AIza[0-9A-Za-z_-]{35})${END}`,
    keywords: ['aiza'],
    validate: randomToken(3.5),
    severity: 'high',
    action: 'block',
    examples: {
      match: [
        'https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=AIzaT_GQ1PWtleXQBMBFcR0LHVyrV248uHtW7HO',
        'GEMINI_API_KEY=AIzabvfKraegxVxhXtpjPXrC0LhrYPKjEBjNcS3',
      ],
      nomatch: ['AIzaACWm2W-445T_DYFHtJq-MbCWlbj2GX', 'apiKey: "AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"', 'AIzaDle2XJGolcBfqMpEPiodDQfbhH501P7puRyY'],
    },
  },
  {
    id: 'google-oauth-client-secret',
    description: 'Google OAuth client secret (GOCSPX-…)',
    pattern: re`\b(GOCSPX-[0-9A-Za-z_-]{28})${END}`,
    keywords: ['gocspx-'],
    validate: randomToken(3.5),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['"client_secret": "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"'],
      nomatch: ['GOCSPX-F2djR2T20f-TiYl0MGmz', 'client_secret: GOCSPX-xxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
    },
  },
  {
    id: 'google-oauth-access-token',
    description: 'Google OAuth 2.0 access token (ya29.…)',
    pattern: re`\b(ya29\.[0-9A-Za-z_-]{30,1000})${END}`,
    keywords: ['ya29.'],
    validate: randomToken(4),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['Authorization: Bearer ya29.a0AdR8hx4NSeC297PmoU_BISpdXp_JJ8mCm_jd6diW7JrdlCcrA631ehg3EZE6pK7PqK138zIS_cXZ5OjAnTwZTq_p-0YBT1H2nziUvkOIi8TS2fJD_fQCE2sVjz1IPF8cpbKoDUehA6XbEns1WNoRt7NA'],
      nomatch: ['ya29.mwXM9Lr8Svwq', 'token=ya29.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
    },
  },
  {
    id: 'azure-storage-account-key',
    description: 'Azure Storage account key (AccountKey= in a storage connection string)',
    pattern: re`(?i:AccountKey)=([A-Za-z0-9+/]{86}==)`,
    keywords: ['accountkey='],
    validate: randomToken(4.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey=mUwnf45bUs5ei2sgq9NoTAYJRM+q72AkHVxYaJNdrOpf8e56YE4WKDGU3DjSHNxc/YxzZcmbZ+dQroSl7YZNSB==;EndpointSuffix=core.windows.net'],
      nomatch: ['AccountName=acmelogs;AccountKey=<storage-account-key>;', 'AccountKey=6AnsxO/k6wimLV+jSV/6QIJUCkU3YsBeKlXX581w=='],
    },
  },
  {
    id: 'azure-sas-token',
    description: 'Azure shared access signature (sv=…&sig=… in a Storage or Service URL)',
    pattern: re`[?&]sv=[0-9]{4}-[0-9]{2}-[0-9]{2}(?:&[^\s"'<>&]{1,80}){0,12}&sig=([A-Za-z0-9%+/]{40,120})(?:[^A-Za-z0-9%+/=]|$)`,
    keywords: ['sig='],
    validate: randomToken(4),
    severity: 'high',
    action: 'block',
    examples: {
      match: [
        'https://acmelogs.blob.core.windows.net/exports/report.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2025-01-01T00:00:00Z&spr=https&sig=ZmghlFWGazcpLtXLOyH0z8lTdGkvMe%2BTdTVUakmnila%3D',
        'https://acme.blob.core.windows.net/c/x.bin?sp=r&st=2024-05-01T10:00:00Z&se=2024-05-02T10:00:00Z&spr=https&sv=2022-11-02&sr=b&sig=DCavn1AysgbxpCGh3Vh3DX0H2D2w3NBFFgZVwvAI1QB%3D',
      ],
      nomatch: ['https://acme.blob.core.windows.net/c/x.bin?sv=2022-11-02&sr=b&sig=<signature>', 'https://example.org/?sig=qtNUi9yMrbQ2OST3BIkLlAobFfiFNFa9w4Pvr2ibm1x'],
    },
  },
  {
    id: 'azure-shared-access-key',
    description: 'Azure Service Bus / Event Hubs / IoT Hub shared access key (SharedAccessKey= in a connection string)',
    pattern: re`(?i:SharedAccessKey)=([A-Za-z0-9+/]{43}=)`,
    keywords: ['sharedaccesskey='],
    validate: randomToken(4),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['Endpoint=sb://acme-bus.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=u6RhfDmFC3M8m4rzXNjilnSLAc8oh1Ju7piTLVZrWP5='],
      nomatch: ['Endpoint=sb://acme-bus.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=<key>'],
    },
  },
  {
    id: 'azure-ad-client-secret',
    description: 'Microsoft Entra ID (Azure AD) application client secret (…Q~…)',
    pattern: re`(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)`,
    keywords: ['q~'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['AZURE_CLIENT_SECRET=4Bi8Q~uRzWymxKTl53fgpFnv22OvIRCCpw3gMyGm', '"clientSecret": "Fp07Q~2XfnToV38Ig8XWDdhiNWGstbXH7SeEe"'],
      nomatch: ['AZURE_CLIENT_SECRET=fgV8Q~D9usTwWZvn8pIxlmbdE7', 'path~9DQ8Q~DyNCS3Oeoye0qzvHz8cUFOe9PTeX1nqpwMx.2X3K2xbN9hNoex7p780aCTpAXwA1Xr'],
    },
  },
  {
    id: 'digitalocean-token',
    description: 'DigitalOcean personal access, OAuth or refresh token (dop_v1_ / doo_v1_ / dor_v1_)',
    pattern: re`\b(do[opr]_v1_[a-f0-9]{64})\b`,
    keywords: ['dop_v1_', 'doo_v1_', 'dor_v1_'],
    validate: randomToken(3),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['DIGITALOCEAN_TOKEN=dop_v1_1cf088ee18ab0b55ad29ed8821c33881d0ac42debb30976d03a99e8dc224aeab', 'refresh_token: dor_v1_d04b0bcbe9b01bc23ea84dea83ff85ce699d296c5f481fa66b1f70eddc964479'],
      nomatch: ['dop_v1_37ed09dd5ea4d03dbad8e3a31ef1600560774b66', 'dop_v1_b5967ff1792b55e081ec90a632af7b5e8ec79651da7a8f4e9a5c7ea8cff9e686dc'],
    },
  },
  {
    id: 'heroku-api-key',
    description: 'Heroku API key (HRKU-…)',
    pattern: re`\b(HRKU-AA[0-9A-Za-z_-]{58})${END}`,
    keywords: ['hrku-'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['HEROKU_API_KEY=HRKU-AAa_XI6VesbhhkikM_fupSCagIw5FbmtcKOCLC-7NSg852eWeLMcGj6_ngxt'],
      nomatch: ['HRKU-AAsHXynFOlnwkYMXFAnwosAWA2o_Vela', 'HRKU-wWKfSXbeiMaDsQ3pLeMt50QQ67_dH0lofoMuKAeQkva7eYC2iza_WODcf6Xa'],
    },
  },
  {
    id: 'heroku-api-key-legacy',
    description: 'Heroku API key in the older UUID form, next to a heroku key name',
    pattern: assigned('heroku', UUID),
    keywords: ['heroku'],
    validate: randomToken(3),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['HEROKU_API_KEY=240e83cb-13dc-458d-a687-1a8c3ff9aaf8', '"heroku_api_key": "b52f36c3-4064-473d-a556-dd20401a3029"'],
      nomatch: ['HEROKU_APP_ID=4f5ee91fd9cc', 'heroku_api_key: 00000000-0000-0000-0000-000000000000'],
    },
  },
  {
    id: 'alibaba-access-key-id',
    description: 'Alibaba Cloud AccessKey ID (LTAI…)',
    pattern: re`\b(LTAI[A-Za-z0-9]{12,20})\b`,
    keywords: ['ltai'],
    validate: all(randomToken(3), notIdentifier),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI5tfWr4CvwTFX4NoA5fyA'],
      nomatch: ['LTAI1ufcDN', 'LTAIRN9xwAFKTTYJsLJSwMfvGv2V'],
    },
  },
  {
    id: 'alibaba-access-key-secret',
    description: 'Alibaba Cloud AccessKey secret (30 characters next to an access_key_secret / aliyun secret name)',
    pattern: assigned(re`access[_-]?key[_-]?secret|ali(?:baba|yun|cloud)[A-Za-z0-9_.-]{0,20}secret`, '[A-Za-z0-9]{30}'),
    keywords: ['accesskeysecret', 'access_key_secret', 'access-key-secret', 'alibaba', 'aliyun', 'alicloud'],
    validate: all(randomToken(3.5), notIdentifier),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['ALIBABA_CLOUD_ACCESS_KEY_SECRET=sQsEq8oYcnaDNBAo3ixo3WJSW4gWHd', '"accessKeySecret": "xcrnqYzI48fu0CdYkpNnTkypQ8Uj5S"'],
      nomatch: ['access_key_secret = ${ALIYUN_SECRET}', 'access_key_secret: j2c9CjGv6je20GgCGVsSR13c'],
    },
  },
  {
    id: 'ibm-cloud-api-key',
    description: 'IBM Cloud API key (44 characters next to an ibm / bluemix api key name)',
    pattern: assigned(re`ibm[_-]?(?:cloud[_-]?)?api[_-]?key|ibmcloud[_-]?api[_-]?key|bluemix[_-]?api[_-]?key`, '[A-Za-z0-9_-]{44}'),
    keywords: ['ibm', 'bluemix'],
    validate: randomToken(3.5),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['IBMCLOUD_API_KEY=AGZ3uoFqB2Yl8i4ZKbgzCP1PuGnnguMMzLiGrQzb1HhF', '"ibm_api_key": "gMKR5I5zD8MxS_MDWqpeHxJd9ETvrBmRdks14D8cYsFl"'],
      nomatch: ['IBMCLOUD_API_KEY=h-exaFDmyU7UA6pPUpqCrCsl4yUDuNrGFAd09WcY', 'ibm_api_key = <your IBM Cloud API key>'],
    },
  },
  {
    id: 'cloudflare-api-token',
    description: 'Cloudflare API token (40 characters) or global API key (37 hex), next to a Cloudflare key name',
    pattern: assigned(re`cloudflare[_-]?(?:global[_-]?)?api[_-]?(?:token|key)|cloudflare[_-]?token|cf[_-]?api[_-]?(?:token|key)`, '[A-Za-z0-9_-]{40}|[a-f0-9]{37}'),
    keywords: ['cloudflare', 'cf_api', 'cf-api', 'cfapi'],
    validate: all(randomToken(3.5), notIdentifier),
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['CLOUDFLARE_API_TOKEN=Fol0Dar0BbuObFZ1of16bHZqEHaFfyPfakBaGU60', 'CF_API_KEY="995550a1f00eb8c5315d94341c247f7910e96"'],
      nomatch: ['CLOUDFLARE_API_TOKEN=${{ secrets.CLOUDFLARE_API_TOKEN }}', 'CLOUDFLARE_ACCOUNT_ID=f699aa19699f01bfe014ca84d75951aa'],
    },
  },
  {
    id: 'cloudflare-origin-ca-key',
    description: 'Cloudflare Origin CA key (v1.0-…)',
    pattern: re`\b(v1\.0-[a-f0-9]{24}-[a-f0-9]{146})\b`,
    keywords: ['v1.0-'],
    validate: randomToken(3),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['CF_ORIGIN_CA_KEY=v1.0-58811c1824b747251fbfb7b4-982ec4cc0b1503d3d81670c5574ab634c3ced71eb776d57b208d680d6df4bec9128c2736afb107c734a7d6d99506bd4f4b2986e3a45db39180ddba967106970caf941bafb909c81b19'],
      nomatch: ['version v1.0-855027a41c9c640838e110a8-0200def70e7d9cb5b7e92a2a92e51a522970d039'],
    },
  },
];
