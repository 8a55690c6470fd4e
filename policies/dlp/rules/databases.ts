// Database and broker connection strings with a password in them. The password is the finding.
import type { DlpRule } from '../types.ts';
import { urlPassword } from '../validators.ts';
import { re } from './shape.ts';

// scheme://user:password@host — the password may hold a raw `@` (the last one before the host wins).
const urlWithPassword = (schemes: string) =>
  re`(?i:\b(?:${schemes})://)[^\s:@/"'<>\\]{0,128}:([^\s/"'<>\\]{1,256})@[^\s/"'<>\\@]`;

const urlRule = (id: string, service: string, source: string, name: string, schemes: string, keywords: string[], match: string[], nomatch: string[]): DlpRule => ({
  id,
  description: `${name} connection URL with a password (the password is redacted)`,
  service,
  source,
  pattern: urlWithPassword(schemes),
  keywords,
  validate: urlPassword,
  severity: 'critical',
  action: 'block',
  examples: { match, nomatch },
});

export const databaseRules: DlpRule[] = [
  urlRule(
    'postgres-url-password',
    'PostgreSQL',
    'https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS',
    'PostgreSQL',
    re`postgres(?:ql)?(?:\+[a-z0-9]{1,16})?`,
    ['postgres'],
    ['DATABASE_URL=postgres://app:srdxyvBseC8Th1GgOmok@db.internal:5432/app', 'engine = create_engine("postgresql+psycopg2://etl:ex7mG7YNAp7s%40fFyg@10.0.3.7/warehouse")'],
    ['DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app', 'postgres://postgres:postgres@localhost:5432/test', 'postgres://app@db.internal:5432/app', 'postgresql://localhost:5432/app'],
  ),
  urlRule(
    'mysql-url-password',
    'MySQL / MariaDB',
    'https://dev.mysql.com/doc/refman/8.0/en/connecting-using-uri-or-key-value-pairs.html',
    'MySQL / MariaDB',
    re`mysql(?:x|2)?(?:\+[a-z0-9]{1,16})?|mariadb`,
    ['mysql', 'mariadb'],
    ['MYSQL_URL=mysql://root:f1JT63RLPYTUt9Tr@mysql.internal:3306/shop', "url: 'mariadb://app:zHL3lx8oHY!pWK3I@10.1.2.3/app'"],
    ['mysql://root:<password>@localhost/shop', 'mysql://root:@localhost/shop'],
  ),
  urlRule(
    'mongodb-url-password',
    'MongoDB',
    'https://www.mongodb.com/docs/manual/reference/connection-string/',
    'MongoDB',
    re`mongodb(?:\+srv)?`,
    ['mongodb'],
    ['MONGO_URI=mongodb+srv://api:wddyGRkZZbz7gy7HNO@cluster0.ynrtv.mongodb.net/prod?retryWrites=true&w=majority'],
    ['mongodb+srv://api:<db_password>@cluster0.832n8.mongodb.net/', 'mongodb://localhost:27017/prod'],
  ),
  urlRule(
    'redis-url-password',
    'Redis',
    'https://www.iana.org/assignments/uri-schemes/prov/redis',
    'Redis',
    re`rediss?`,
    ['redis'],
    ['REDIS_URL=rediss://:FUdQuB1wmchMVKhrdTMK79rHhIbCStqq@cache.internal:6380/0', 'redis://default:nJ26Dqk4ZDlrqXMWltRkBGnV@redis-12345.c1.eu-west-1.ec2.cloud.redislabs.com:12345'],
    ['REDIS_URL=redis://:changeme@localhost:6379/0', 'redis://localhost:6379/0'],
  ),
  urlRule(
    'amqp-url-password',
    'RabbitMQ',
    'https://www.rabbitmq.com/docs/uri-spec',
    'AMQP (RabbitMQ)',
    re`amqps?`,
    ['amqp'],
    ['CELERY_BROKER_URL=amqp://worker:9VjlzhuHEVSCVD8m7ghB@rabbit.internal:5672/prod'],
    ['amqp://guest:guest@localhost:5672/', 'amqp://rabbit.internal:5672/'],
  ),
  urlRule(
    'url-credentials',
    'generic',
    'RFC 3986, section 3.2.1 (user information in a URI)',
    'HTTP, FTP, SMTP, LDAP, SSH or other',
    re`https?|ftps?|sftp|smtps?|ldaps?|ssh|git|svn|nats|kafka|mqtts?|mssql|sqlserver|clickhouse|couchdb|neo4j(?:\+s)?|bolt`,
    ['://'],
    ['git remote add origin https://ci-bot:5RmrFPqa7VTOB5HEg3zTIT0l@git.acme.internal/platform/api.git', 'SMTP_URL=smtps://mailer:k6qll86jEgDglFoE@smtp.acme.internal:465'],
    ['https://user:${GIT_TOKEN}@git.acme.internal/x.git', 'https://git.acme.internal:8443/platform/api', 'ftp://anonymous:anonymous@ftp.acme.internal/pub'],
  ),
  {
    id: 'jdbc-password',
    description: 'JDBC URL with a password parameter (;password= or ?password=)',
    service: 'JDBC',
    source: 'https://learn.microsoft.com/en-us/sql/connect/jdbc/building-the-connection-url',
    pattern: re`(?i:jdbc:[a-z0-9]{2,20}:)[^\s"'<>]{0,256}?[;?&](?i:password|pwd)=([^\s;&"'<>]{1,128})`,
    keywords: ['jdbc:'],
    validate: urlPassword,
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['spring.datasource.url=jdbc:sqlserver://sql.internal:1433;databaseName=orders;user=app;password=vHT5PBC4KZvW8tmp;encrypt=true', 'jdbc:mysql://db.internal:3306/shop?user=app&password=opi0TqDUnjoQVB'],
      nomatch: ['jdbc:sqlserver://sql.internal:1433;databaseName=orders;user=app;password=${DB_PASSWORD}', 'jdbc:postgresql://db.internal:5432/app'],
    },
  },
  {
    id: 'connection-string-password',
    description: 'ADO.NET / ODBC connection string with a password (Server=…;Password=…)',
    service: 'ADO.NET / ODBC',
    source: 'https://learn.microsoft.com/en-us/dotnet/framework/data/adonet/connection-string-syntax',
    pattern: re`(?i:(?:server|data source|host|address|addr)[ \t]{0,2}=)[^"'\r\n\\]{1,256}?;[ \t]{0,2}(?i:password|pwd)[ \t]{0,2}=[ \t]{0,2}([^;"'\r\n\\]{1,128})`,
    keywords: ['password', 'pwd'],
    validate: urlPassword,
    severity: 'critical',
    action: 'block',
    examples: {
      match: ['"DefaultConnection": "Server=tcp:acme.database.windows.net,1433;Database=orders;User ID=app;Password=6iKlgsFTQ6ABU9YMPg;Encrypt=True;"', 'Driver={ODBC Driver 18 for SQL Server};Server=sql.internal;Uid=etl;Pwd=2f40uP72LIF1;'],
      nomatch: ['Server=sql.internal;Database=orders;Trusted_Connection=True;', 'Server=sql.internal;User Id=app;Password=<password>;'],
    },
  },
];
