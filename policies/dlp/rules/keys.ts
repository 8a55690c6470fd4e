// Private keys: PEM (RSA, EC, DSA, PKCS#8, encrypted PKCS#8), OpenSSH, PGP, PuTTY, SSH.COM. The
// whole block is the finding, BEGIN to END, so redaction removes all of it; a block cut off
// before its END line still matches from BEGIN through the base64 that follows.
import type { DlpRule } from '../types.ts';
import { keyBlock } from '../validators.ts';
import { armored, armorHeaders, re } from './shape.ts';

const keyRule = (id: string, service: string, source: string, description: string, pattern: string, keywords: string[], match: string[], nomatch: string[]): DlpRule => ({
  id,
  description,
  service,
  source,
  pattern,
  keywords,
  validate: keyBlock,
  severity: 'critical',
  action: 'block',
  examples: { match, nomatch },
});

// Sizes: RSA-4096 PEM is ~3.3 KB, an OpenSSH RSA-4096 key ~3.4 KB, a PGP key with subkeys ~7 KB.
export const keyRules: DlpRule[] = [
  keyRule(
    'private-key-rsa',
    'private key',
    'RFC 7468 (PEM textual encoding), PKCS #1 (RFC 8017)',
    'RSA private key, PEM (-----BEGIN RSA PRIVATE KEY-----), also legacy-encrypted',
    armored('RSA PRIVATE KEY', armorHeaders(3)),
    ['begin rsa private key'],
    [
      '-----BEGIN RSA PRIVATE KEY-----\nMII5iIEHvesufg6kG9joo7dtT6AoI4cg/+R1/Z963xrLg7OpcceSmvjeIwkHehOC\nLUuIPjhILqb+c7K8ZRkv6qlwC2DHr4kjqiwhU78kDLnOoZVq+2mccZEi5vXodxBD\nKEuuCIF0i/Ubkc5hqFR2avWYsQFOt1nc3x3ZvmOCi17QSr4KbPV7SDAO6Vzvl1BC\nzvQG4VB1pPfb/L2jvQc1RLqsPItq5iht7uY2mQqPV1YCfrV2QPmcXW7x9+Xx7KNF\nZ6IjC8Kkqwg6FbLOSZeDTGy3JVsZLurjqdnLpbsS4MR2cD4evzNcP/xKztdAYdNp\nqSK+tHf6OzDd+88fIuiqLVcnV9sHfrNU9MJ6qwFqAixMa9IcFUBbeY04LGyykuPX\nBIGgOrGpIkZaWrbxuI/4jWXKfljVVVgXuAg/4/LzjOqtLsl4p0YdIvepqEKb8xDj\nUlsbuPFbRefMc7CwhXDVrkAySwRpTVUskH5rtHi/DOa8P+UEq6q8EsIHeX5Nh8CW\nu89o/q+YxB2d0hAKzC3iCG/Odp45gPjTQEIlpXgV1EVyn/R5HGZFA3VZ6711z/3G\n3thVtI6AsE6/zLo7vsxo+nN3ubwiq6xn/3dXV8EPVPtevaP25OdktwVtYj8jRldL\nl0iYVwSqlHlbbxQLaqZhz5b3o0SY3l8HtPBaJSTbJSCqWUEN1J/2vomH2T1fu+fL\nSd0knPIy2IptVtNcIaLDPqXt32zCPnvjfHf1HA44FSdGkQSTPmjXqo6CTPA9bsXh\nno16CyLj350dzdrAxz6g45tBBoPH0qyfJmK6urKh9T8UvN0pvG/huSv4bg4faF4v\nYdUh8aTnZx75JE7GtnBsp+hhVU4RPXBNVdLqJG/6d7gO+U3qHtJBKCtSDAm3GZU7\nZyLvPCKX9/psxYe6j92bzfpNpoAn3dzEgK3coeO1PV6S0x4WNhYx4GIXnY7CyU0u\nxQK/GCuycZ+vDwyQZCaWIhslJ1DWELTlo/RaAD8DhoUIgs47XTMEjJbjmEcSJ4pr\n3dPIRFOILasQmV3e+HrVIvDXTgLHZ8NrVpI5oHQKvks/5VWCQ3MsX8xxjAxc/RSn\n2ecNtahhmepU3LNm89y/pnR+sQd4RgN2IbRt35QMYEpJTla4Mnj6TvED5iHqYqoa\nGAzWQgZ/8i03BWhE531TSeSBid9CiHE8WlFwrms1y2oSj9iCfp1jb7/SQZm8MX6n\nIsjLVs9EEWcIFXFTNbFxIieUa3ex1PGU2dhLMh2vEJD016CFJ2P1JqOAam2vhJfB\nGd81Zo23SO8UPnFoF7OZO6tLDRLXz1AXVgiayrA9KdUQYQsdlVXpqYHcaGJSG1aO\n2womllTsZMLlMOfayjG5mGcWBnhKIccBMkt33JiCc73eUMJZQn8E8gF8VKH2dhsz\nMO0NsPdUBcmy4mCp0RUCsCXefrIQPnLAf0/5r5uaNrIyqqlYeBgplj12W3C/rqoP\nmoFpdZGgquvS0syXT5sscKNVCRu0ZL9jTYfFUeht4fc3BKqQHwgNzISX31TRgGFQ\nd3W07e9kN3pMaEEe1d+LzLyJlAPay/ujezGsNWuWvgP/\n-----END RSA PRIVATE KEY-----\n',
      '{"messages":[{"role":"user","content":"why does ssh reject this?\\n-----BEGIN RSA PRIVATE KEY-----\\nMIIdhHjpwpzkzP2d4Ye1cfPdsrvmnZvCJRm+lMlYe13O/ceo9CDE3+g/NI6Nohwg\\nqDWkDnScCMaa0cTpvEwH/8+79ob5fjIaftQqXzWhU2yc6+E/WQfkZBVhwGBTzXxe\\nSJK5nPCnoZFudTQDGpWeoeuA1WuCfDZ9MlFwNzzxrFtJdInDh/A8B4qfdmioFGZ9\\nFm+7VKxkGM8meX5jphcOIs+xM7tWA35CmN8OHwrj7RBQ7ZOd8rzRXyMxdnQJs280\\nlaU/uOv1gS+m1f9fJoJ+I0SmPttA1a9nrXd89OtR8LCDZrKk/8LhnFHhNddcZCcg\\nvx9Fj29mW1sSfHXh/fwFttY3etr9b0UZgJBjUutO8wg0InfOQHmiM6O8iUMLeP2R\\nfclNOjXDOtOt9+0S8Sl/85LQawYsX15MkpRSixsG2H1cRoL+I8jHCBL+1kEbhONH\\nehzk/9hnY31n5vG+hHtGDJ1yDLCLf9I3DoZFdBWWRi4TYZd5gMQxO/ZGtgt++/iK\\nCnaZbDv4zQOTNT9eVDIvIrxhS07BGAtLJQymflUepl3ezLBqdYH3kBzc2yzl7Me/\\nfP3Ir87Y1wsPH542hbYDsnuXQE1zkhYhfNlQ4zrGbHGwktEtp3McFFl1T9/v9xPG\\n5xpW3f5iE1lpXxe5cilWGeSLAVFqLrlKTTRX8tPjBTyGp9A/acX6jUAR7arC2j0o\\nYKwdt47SA0WvosBhPrkVLR1AgS4zPdyBHlbOyVavYFOH\\n-----END RSA PRIVATE KEY-----\\n"}]}',
      '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,1738A91CD098E8845860FAE79CDB2D23\n\nMIIjvmf8lx57EDn+HwX7Ie0McTdEPWqm73r1SrUAXNfACcy631O4CTGDeVSrwUyO\n28w6YT1372RoDMrHDSJCpFyGeceL+KUJcHjT089kqNqqy/vhHQKEORD0dBvYZ1x+\nzrZvLPKtpUz8SxdDknyEHUGqDhLL5sI/B1Wea85PcSXpbWsAsU5sDlC8k16sL4TW\naoAysiI0roT2jdHrgrFak6CIHeQgOVa20mrXxreX1MmWlpGkz7hoTibxg+bZv0uo\n50ji/oW94DfHh2b2XAf3ZcMSgClXSErnOSybhzHf85r2CgehsmjA2vm6xr7EScHH\nM5Vvc2CVF8/nZef99kMtK0xGIOaNIEnCra86tGVRF+iJW2fSRkSgDW+P15UHT+V0\nn+l7BohUv4LEftlHIPvDhj8LVufLcjsW24PuVx0qg5i7dSr0fvHy7loQtdWo0u5c\nIVv4pAes83DMLnVmOnJ8yBy1QgpQX2np/1TqvE8Bg6FZW0k2GphSaywc4p90ra3l\nL21axRBpNgJcjgbvE7gJ3yQufe6Secq4+Zp0WiMyMetLl1m6Gp4DfJ9C8UNV8e8W\nbicZuPxUNXrHanczDGDJR21v3R3vcItn6TLwgF2fl5fxLrwEGiH4LvMunh2sRiy2\nGjIMqDKEk4kmB8tsxhQWerNVCxgV5ojtbxIEj7ZqJ4aNdhHqp1eaZu9iA3Mfr+wm\nJhn77mLFCKNfw80yJQP/OASkLkAqha8GNW4QcVxcuM7D\n-----END RSA PRIVATE KEY-----',
      'key.pem (first lines):\n-----BEGIN RSA PRIVATE KEY-----\nMIIIHg9o6R58TdijcCmdyn5CUPGobL2Q4ebJ66UqSCEfYHqL4T1CnhbOrMgqjT7B\nniHSM7cLKQnW5wMu82aTCaVf2lDJ45XevNMWeOgu3gVuobol5bsz/OsiQP+QiQYf\ntSKUSWUk7rut8PdZtEstM10Q85aBGO4AuQz33O7X7ZTtmgtM0BCAVHPuW922wXOH\nMdLl1ed/QyB1oB6SbevbzcbnSvsOJNoanzLRxelvoyo79MEB+ASEZYNlnqcdUtbE\nK5HNADzJTI2Z1gOKwFlngM5plj9974uvPv3pgoLVkxqb',
    ],
    [
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----',
      '-----BEGIN RSA PRIVATE KEY-----\n<your key here>\n-----END RSA PRIVATE KEY-----',
      'if (pem.startsWith("-----BEGIN RSA PRIVATE KEY-----")) return "pkcs1";',
    ],
  ),
  keyRule(
    'private-key-ec',
    'private key',
    'RFC 7468 (PEM textual encoding), RFC 5915 (EC private keys)',
    'EC private key, PEM (-----BEGIN EC PRIVATE KEY-----)',
    armored('EC PRIVATE KEY', armorHeaders(3)),
    ['begin ec private key'],
    ['-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIqIrzK4lzrZY692tQtnr2qq58BO9bIqeRpgQHJDi3DeFApbxx6eI0wwB\n2UQubFhBJ6/AGjj5ODqk9FKyjiiauhVyy5dEDnKG9obldcjVkN9NdRhkyrRpdRmw\nCzJbBstHhMCeJu4KcltcE233plyn6HYTW9vqbZuxHtlwT1VG\n-----END EC PRIVATE KEY-----'],
    ['-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END EC PRIVATE KEY-----', '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----'],
  ),
  keyRule(
    'private-key-dsa',
    'private key',
    'RFC 7468 (PEM textual encoding); OpenSSL DSA PRIVATE KEY',
    'DSA private key, PEM (-----BEGIN DSA PRIVATE KEY-----)',
    armored('DSA PRIVATE KEY', armorHeaders(3)),
    ['begin dsa private key'],
    ['-----BEGIN DSA PRIVATE KEY-----\nMII9NEgg4DXxce0YOxe2B+bb4jjuzEifr6kojG5HhfrSorzv6n4drnoMBHjL3xVq\nnQUmiU+vntqk/VpWinKDx5Uh8lPUJ7sCpLDcoL9Q9/U0nqCHk3R+KM6FEikFllqJ\nowK2T3S/VmIxdhWhN5p5vMUdcw0ohbZMyuc7OplibRBQsi+jtfSRxzOYpJcYDEZf\n7VYBDHP1zeIxdkcpNriimg8jcfLWTHW+BVsEd6j6vGKceF7qAKy6y5JIMzcAo3p3\nrPh/fjVXKcDxxpj82is80CGquVqMQxfBWkT+NYy1a4SU+8ZaP8TFxwkeQ9helik/\nZK0pQ+UzCXb8wf8hdE4y3S69omVsFhnU/DD2RJ68ufT2nw99Xu74RO17oXPunIcR\nhHrocrJugiUAvDQXeA9+wOkgGs0xB8JPs3hvINEW98o8Gz2n3rZciarRW2rlOqrV\nCX89I+IG7iedbTLDQhz5jnorYOvt0Ia5H+o0Q4Eclbq4zmpin6NSusdx08rEiWm5\n1RaGyj+GPow9Q5YMGajhNVXL4nlODN5AbOUgppyz5OjexKztcc9xgq1+Rf+Z4f5a\nKzI/L0g4Cg9WKvuKnA22xatkpPkSvQ6DIRnYS6V0IB4ZbS6O+cHEuw8xqAvNdMWu\n79xypp07YC+fH11mMa9Gk5bTbAHyRXfDamyGeTKvcR0HlAAV5lXrMW5Dm4LQBdY6\nih+o5GtlFalGIb0OYjwPDj9zHl+HcgDE+FFYUe2ojsXcwca8pJ7m/fdu7qh9mVjj\nQEqHFTGCvzIdew79wWio9PdApCkl7fSKGIOO/7Ci7wtPUEufmvP7dAx89JuXRSfr\n4V83Lry1pAHOLp3ayN0E4QrmPy4FJHk+fLm+nwPkL4Dy4NQZtYZfjIzR2YLnCqyb\nrccz36EltouQqmzCS9CIPSB7JrvnphWG24AprqTWkt/o1imIkxgMKoWWc90pMeOR\nQaf0LvZaKUSF3PoSTpuQGc0qGkyrkwdD3ep4QIFJucgZkgDKRSaQkqGwXlLTQvWz\nfe0oIUXmEdESyte0tWo59bUBfZRUVUW/Ai/PrYUF7/1Mq1oqPSlzhC3NRwPfFdkQ\nzFMeYUQtRcCNhDaUhdAskjhRvhMucojogrgC0lUeO1DZ\n-----END DSA PRIVATE KEY-----'],
    ['-----BEGIN DSA PRIVATE KEY-----\n(redacted)\n-----END DSA PRIVATE KEY-----'],
  ),
  keyRule(
    'private-key-pkcs8',
    'private key',
    'RFC 7468 section 10 (PKCS #8 PRIVATE KEY)',
    'PKCS#8 private key, PEM (-----BEGIN PRIVATE KEY-----): RSA, EC, Ed25519…',
    armored('PRIVATE KEY'),
    ['begin private key'],
    [
      '-----BEGIN PRIVATE KEY-----\nMIINb+sEL4j/yv9Hp8Nlee0+4HK+H+Npq/i+3Bo5xcJsRkVVWk9k5Zcpkmt6J2x+\nNVeoy9E5ARifCEMAVQGcD2N+P4YvydUzLe6XZvvoZxizeJPH+dNeHyJEYLfc6O6E\nniTDcGWTq5c08gJPBvRs8bzFR0LWO5MbFEhEVFISoLfUckGz/sPdw9E5z+byM76y\n0eI3MT4RnVZ4Z4l7zT1NrZeDyVMleXZ7XhEB1QDVHwrhgYjF2Y9JS2Usb8IqOemE\n3HyQgw+tyP2OEQ41qgBL7UdgOpMIUztMR70rLMqTHjIRqOwlYJ7f4kgPgHtsHC2c\n+2qc0uj1KVsHUMWoh2bpnfUM6X46YgiJGMK1tYxxwCVRJ+L8Vj5//PNDnLcykNqY\ndrdaw3iWvHGtkIk3NDstRiAnk6GYTAXivdI0kyL62hPe+aE1hpepPTi0sb6xR9M+\nO7325YDILQivn9kkYzR/SahltVDuktWymHNIVgV4z50WQ8CNp1cnJv55gx35VWuN\nSedf+NmCjqgmIAt66OixhaHIhQXBvoM1Xg4hakB1d77z8PotXmJXpcq40jT77MiT\n8LLJq2pmmBCeZa6FZk2rjTiAnQ9+MLQ6KBCRol8+2cJVgsJUFb3ms4i3DPQxQD9O\nAHYKtjfV3uRb5/oo3d+t0+kuD0/xpmM/XOQKt1nKHV12sN+LM16yOEjblV/fOvkh\n5FgSijycIXQKeCe3vAuBJN0cZ1qa0uwQ+bZJXPUrTU1XOUX4qcqJENognydPIEPf\n6MAdcgHY5da+or94UwRmGq9Q6ixo7qg7i1xzSN8FYBYLGgZcKT4C7Yn0FmGaqOOR\n5fiqR2rZT3IQKZIfGPgvdQEy8PcJG1ZfadH2wFz80quxB3sOunzWEKpmJs9UqmFr\nMft1SE/gmNt+BoIK46lgtRzEmj2BiT8V5JGUWXIXKv7RY19L1CYvBQxZSgrnQ8yw\nVX4Hx/I4RliKRcunw6xr/qNPk6w7BD6EXW9DQBkdOxUmTjqUL67YUL+PlNkzGVX7\nsEVrmLiihPiStkO+/5Xc2UyRTNTG1kaC5rLZw++pCe4fqYR1pDwoXBDwOrTKvxPO\n2DHdTQnQ9T+vZD84Zx3B8gOwYUeURtrBq4CKy8VDeAfMHOfQVyIZZAKvDPukuwvv\ny9Qeo34BrOGooRBuUS0RTEa7Np/Z7Ff+RBSRWa1fk/RrXg/HDAi/o8in5ZZBJZ/2\n4HKdKCjpOh++H1xI0iXHGQf5B5EFfOUiWk7892ZDVSSrymZhLPRMJj0qHJg/5KAf\nNLM/rXsN5d/pXidTAa7aAqkmCdmigWBPloOMthV9kvhAUXK9KaIANUxuaxQahgcU\n6Y8KZzkB/AeDS+1HGX9nmJI6RJ6+NYEhSmqmER5ceqqJkkurGYfYxG0Vl+7Puvrd\nq0q0KyrBowKeF9cK5pWWsPPE+Go1BJjcZ+zVl0I2Kj0+NISe7PWa+P7jwgKh1SHr\ndQttNOoCviGQ1O9veQmqo6Pn0VJll5ou4mkRO0JmkdNrSClkjHObDJuYAQoRTX/F\nRJcDZcge/QDgunZQpglxe0DxnZjtJ+aONvthFD62GBPDEYoiy26Wb9n5IauXfegj\noO1whO0CPZM4EC6jcDCvXiz1D+8MGbsgKvV5Ak/V3Vj/\n-----END PRIVATE KEY-----',
      'const key = "-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIhUuF39PoiReSYugz0qtC45fS3rIawDTJHbecqViLwQp\\n-----END PRIVATE KEY-----\\n";',
    ],
    ['-----BEGIN PUBLIC KEY-----\nMIIJhDgFFtoLX7Q5vaKn8IxCQBNVQp4AryEr35cJz588994OBDwm5tt4k+Jwu554\nTD6hcmhCogkNPdOjoidzZYwz+sdtgWgNk25b+JG+r/zU5bPIqnXlUWseEey6LMs2\nADBNYZtCDTldXEJi9bxe+f5MP5Ysmkx/buB4nj1+ZFIfkhHfXujxA16bnCBmCGc/\nhKpHPVMEL2d/2LtxkHkqAL0C8QLQTZnI4XDxt1fVk5AEXvO/kAmKTMQiDoeu+6qU\nsQlGcyn01ZYuzvZjEcC7xerOIwKMhWGvx6eUXGsXjRMMXv8S6wUJtdMq4KytS+g+\n+jiOZuh8qRMBCu61/4kDSGQq6ybhewpyHUX/K5kYZdQp\n-----END PUBLIC KEY-----', '-----BEGIN CERTIFICATE-----\nMIIBCLNvSONbJf1/U4X1tIQudUh6zlVv4CQrhApuxEYVbFLzggYk5PY5bqYy39fU\nCjshGNq3Q5zKAVKkPEKojn4j5vDP8ORnOw5oHLIuBCaB65EpK94rt+5l6HYhaVHX\nqEKoHeqQE1YVnJnbQhzqAlwAVJ21cdtwHULLHAclAfE85WtcgyPvXWffriJgsyKl\noNa98AbQKWOdQqaDdSvHpl4EnjcTkEAjZivqQJBDtaDpnVzqJnA8gBQm5JHn4QzA\n/vSNdHx+iPAC82+HBN5lL9DWxGuKcZyAKS34CGqRc90Lln1FjTYtdZWD7WVMLmiw\nGgkGCjg6n8O5UOsJhf0hATmZ8oJZgnXNxFRTIGL9sZFicn65udR9FMForTeOkBJ0\nE2vdqcUwGcQjkzAzYzq0QC18IMpLcCLgUHaPByEBraEgubCbZ+MLjxhWZcUhqH6H\nT7uL9qh64m9I2Sc1N4Y6+484azKdUWd9kXy7DC0A5/zKXyOcfOURkzl/gB+CdC6B\na9gN/4U4g7ZLcIttdy4vcGtIyQ8Xeqs6KqJJu0W5c2HpNMWvdRkN7q6BYGO483DI\nPW1WAfYbs91kcoNIWganK7T9plNPtPp3uz8BuGCcwHYYHy+a8B2gApj5wdSgQE4D\nZH0WTorkiQH7v+dgTrkbh137I2mUwt4TQgRvAoYJLr9tBdN/NipYzJ5bz+6fE9ZG\naLaN2TTtkKV8EMorNayYVxetx1I5s4KteI6jZ0sQ7//FsZIb09873gVUBy0iZLv0\nNN0ncckcXZAotMsbn8jjIdqeknCMjnDY6WaFoDaMPPmE9BY8cwzJBZzteBLzdw6r\nanJhbSF3XOq0WorQkRulMUC4dka6CEZJ6JCpw3kvo4VHPRurZlhxnV5lbpUomk36\neHVzB8V2Di6aMCULrtijFptFRLNfhSIG4tYqOXkr0K3kEsYWUp9CUALY1RS0KkG9\nFt2akerh2gopjAUFrs3WdlVqCu5yuqX/XAb8xkBr+dM3PHTB3b06V0c1tAH6Yr47\nvuXyig2xK/tSPZgOMnDN0t8ndOHjq90EMt6w2qNUzQ+BYy4Ae8Vj+Y746MVa4P/J\nfffUOPZ0PuM0BLFrlTcTGAbVl/YK3IvJpn7GJLDmql8YbX8OaVHnwXNxePTwImzD\nRtnuXPc6uT+K7YyDo7tozJ8ne2LtFkbTzcaoTGVEY7B2qonl3wfjAEXTFI+sWanP\nUKU6nDQf3jg7IkLdLBcwUoJetVayxUlg6ZLbcLtYRpLM\n-----END CERTIFICATE-----'],
  ),
  keyRule(
    'private-key-pkcs8-encrypted',
    'private key',
    'RFC 7468 section 11 (ENCRYPTED PRIVATE KEY)',
    'Encrypted PKCS#8 private key, PEM (-----BEGIN ENCRYPTED PRIVATE KEY-----)',
    armored('ENCRYPTED PRIVATE KEY'),
    ['begin encrypted private key'],
    ['-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIpqSFV5o6YXw0gY1yBb/CI1UvNVlW6BWEZ8Nx2cW7oUhzq3gutuFoyV0tMOdHK\niva+bEb2cGeKvbpU9wAO7+qibKiB2W+aockab9ArBrMaeYxU2VHlm2Dk61iG/kvx\nlrIlxE4v4AWa9Opm7Lv3VrJxbiUmLh7IemO0taIbM7MHVguiFyttCGDGcshwLXHI\ndO+aGUjTURuql7KEiXmi5RVHVxQjpDmfitb7SbXO5OwwyCjH9x+yGcE9wZE8PINr\n6wmkTeMnU2iS+THVwrRZ0pf9208OcX8cb8ld6o1uTNVmGpwzOLia9Tf7Zubt3xnb\nuyZHRiru01tmNuPFM4hTnavT9MTjz6R/MW9s9ioH/5LbCdotyWNrSPfJpsYPY77o\nVsq1Q6ykpc4AEtHZBRbHEpiR/VBhoj+G4Qgfy9OhW73yLIP3+4n12zPYAFnPlEIM\nI//AKYOzjuScVEymTCYGIwESvamjjWdcDhe1/9wRti1GACfyQv/GHTlT2a2KodEa\naLp20QTPuPuS0X6oFCYp87oidfoRVm0ZHYRAfiaGA8SHcBUNlwZHMtW22kQC7iWp\nQFeKeOUkrHRoP3dvTLMSW8tWN02U/vme7vWZnoSxGbceOwU61nf9fKNvHP0SxNNO\nhTAoaJpvRiLL5tAG/uRzqmEm9kHfqHn2Lf3O7dHqvTR2YmK7aLSW8WuDj5uZjVhs\nB7FylPygHgCf1KHhX6thmpNSOYyv84I3H46kXXO+rgPTOC/8KbhYHGXrk0sb69xt\n5o+9I2Vrw/9SlSCfpFb4DO+C9JjeCrSXSLmLWTVB+0wnB81fBjmNiUxEh3epG8UU\nEmYMDBfCWarVSMVY3mj2EokeIcqtDTio5wADvSuH/wkIc5qFFSQ0hedi8Q0G+6eL\nfxTpCm0SWboM9uXJh2t9lILYy/1pF+OKQQHPR36SfDzxggjtF9142DAXZreKQsqV\nrhl/H6fGZpBOA/3MUtOyvGMV4VGcq2VvottYsAaF4jA4303jcDV73Pa1OgSjM+Mc\nK7yzNsK1He9aU10PRaB0hy+n/cDucO7b5aUm1VrSKp4yNcEceNxrWFgip1MiFCeC\nu/mNL5CtuqoOuDBiLSAWcAYzS3mdpntPqbU3wOAWLSZjFEklaqyAX23HnS5hR/Ua\n0gLq5W/P9nK9ETwdT0btGT3KmC2nRy5Q0TfKr9Mb/su/BHlQkeizusJgepUFCJgM\n1gfTJ/Uyx/nnaZEh0Tx06w77GLIxte6bnQ/6Zq352OmSzZmjv7Ln6se+FDBf82DT\nSW5/Agyn54Cp8axu6BN0kH11H+PCHSgHl178onR4q+o4W2ojj+z11jvRCVRvthe5\nGvm6mn/eyaJ0i3FzUdGVh9h1bgphlZZYhe4ps+JjIDmVAKdlFlOD/8DYSrU/wMqf\nxKpfY5Nasp7g0Nl/qgekm/qKmwk+1+i80Zm3FNvXHhb9R9PTLe0ScHNWuv+0NmGW\n7jDoiREcwl7k3CTBCGo/14qyXDErh6d4wDp8mAA92tdumXglO4HNTYwIMnAlj9lx\nyL2S5v7yqzzjwRg36GyqgHwdhHOpbVyygDrZsEQZlSgVEL2eMjjhp3fwQb3rDjDL\niMqcRwp4iOX2UIVrsPz4dRIJCqLY7UnYUMUB8dfhfyJKQZxQIr5a1Aw2BaaBQWjh\nOl/mf0/KxCgEBwmjzFc9HmiEGIakR4wpAXFqd6Qi4QpQ\n-----END ENCRYPTED PRIVATE KEY-----'],
    ['-----BEGIN ENCRYPTED PRIVATE KEY-----\n-----END ENCRYPTED PRIVATE KEY-----'],
  ),
  keyRule(
    'private-key-openssh',
    'private key',
    'OpenSSH PROTOCOL.key (openssh-key-v1 format)',
    'OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)',
    armored('OPENSSH PRIVATE KEY'),
    ['begin openssh private key'],
    [
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nMVK7u9nUo/VuKTAaCSczr0jQOI+NY6mrm5B/pl08eY/+BHMi4bo+zXQHp55OfIo/lQ7iHS\nusyEMVmgIr7ApzjO27P06Sy8BrMtXKCxP2FR9P/VbNnKnSiSHrWQ/keKVuHHeQZdfGIVAq\nTFFN1C/nc65Y45QZsv5AUKdTTGsGmvTzmaMJrXgipuCYZ6kMX2n5gC8HGShAZDU3S4A1Rn\nuqK7o4/IeASgRERno5NS/nGg\n-----END OPENSSH PRIVATE KEY-----\n',
    ],
    ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKly+kHL6994UEUpu8RghH3VXrzOg2XSM6mhKfiMqowz deploy@ci', '-----BEGIN OPENSSH PRIVATE KEY-----\n[...]\n-----END OPENSSH PRIVATE KEY-----'],
  ),
  keyRule(
    'pgp-private-key',
    'private key',
    'RFC 4880 section 6.2 (OpenPGP ASCII armor)',
    'PGP / GPG private key block (-----BEGIN PGP PRIVATE KEY BLOCK-----)',
    armored('PGP PRIVATE KEY BLOCK', armorHeaders(5)),
    ['begin pgp private key block'],
    ['-----BEGIN PGP PRIVATE KEY BLOCK-----\nComment: release signing key\n\nlQdGBGZt0jhtlsBW8K3Fin1HmorinDo6qsaAystOqRwZJuuwe8JqD6a7rrKQltGg\nMIInsmL/TDtXpA5Zo/u8QsinnyXw7LkFokXdHwWK0SGzhTFnwlqMa1pDEWviwlj8\nE/a7u15Ctcd0ga/hfpCgm7Ca061SwPttw9kA6ugeLSF3UxdWlCrOe38/g8g0rLwN\n2O2zUMf8PtVR3OuRerHZyPJyWvRvPcsYIZBWjr/ODDWWNzWDl+QgySqlaKEd0oNc\nUVtqjd3Wz4sKz6hMYlVFYQMRrLxK9RQSIoBOL2BDqtDb25V+ErVONO+FXg2HrYP2\nJdx1j64kNrq5zupFq6L8PF7mHbjumU+qiEJo7cJthDkde8h0n6tiujEva0ZNnNFT\nMmt7AkmEnxudPdK2P+oyxNGfTMH540pqcElYo3IKS7/i//9d0I/Nq9H/BXTEVkLv\ngLXJAn35DXPp+zk/yCDidz50Mca5ns36a+WGjG+WNdAvEcwvHXyTOuKusGCFrxNF\nOZWVrabq4EFF36fTGZ0fVn31AT1ba9FBqwyGei//4ln7QCyRxlKBwbIfb2uTpia6\nCXwnPtPZ9OVQetyW1BtC4n4HkJkGMBKMoUXFVLD05Ct1TgU7PF4sBqqrerZ4YLfD\n0pG5eFU0MlsTidXEzaOrREDQLuMeq4nbpVod2K5vtIb69WfG7kDSR72UNLosNC+4\nXDt24GmchN5nNI9jvYx3QMjbbYQ6Vl3Eu7gyJusidU8wXmBW+yZyOkjZxVrSSV6L\nzffuf0hu5WbblkjfH0GLhokqojYkc7W3NXfa0Y9ark0+INx0yallmF1nfV9ngOMM\na/n4pjGPpo5RBqDWd31PG5U2yIVKZh1l/7gZj24fE9lD2hLLpfVYk/sb8GuYlzLq\negjZvqq0xdUqR5+8o0tDNXbsMUzwZ2p8HHj/8MGoTw0gyxOr07bLK8OC7vznHCkg\nFZxR6sFxb54c2Qj4IdMQSxVePmzrOBux65u1WObY2NbweNVaQQ5mCG/GJ2mN+aS6\n76MT6yc7R+ZW/GNs5yMLkLhBoGlHIfK7TsHMbTkRNGa2UpvEUMcvUJ14pNvW/YWa\nZwBdgZlmRnCDRsL5pE2V2wKqAA1WyWe8EScXy5gF9ca6EEuRg3/naKUrUcJwRxxt\nERfjlVUdwXV43z1ZKe7fMsCByK3QsVMbYhR0oUnLf6YoCwPkNpF4Ifs+s2643c4S\nOtMgCucHfzhJt1T5IZG6RDGv5K1eOhsNUvTPc0BTFNG9evEm2DILUFL20s3q/QST\nxKa44YspgR42U8uo42fODGhgiGYC+nDKK+qiE5yOpnat\n=dZi1\n-----END PGP PRIVATE KEY BLOCK-----'],
    ['-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGZyVvSLw6wpbEkEdvTIE1BtDDY5je8Vpfbjsv3JptxuUqEf6WeVnQFhvmCb\nMIIhGuFJ+QKz8UjnegW4G5Z2HWcHATarKK0Qp6DNGdOVOddZcrkDuBj9iSBZ1frz\nFteV7JaCJ609I2qyuAGmJvTVh/o7ZIKYTZZrQVZDEPPbOfjH8Gyt0O6A6/IE8yn9\nP6m3d7hmvQhdkVTRuay1xseJ1U3hHXrGytIESBZs9UuxqvDR/Eui13OEtx8iOi4n\nnXfTZDKhBMof7myooaJoif0nBE0QnNB1+qC+lAjFTVIu4kI+lIggAQ3Edqe6gu+B\nfLq6v1VI37GvTs7Qt0RW5MRJOiAKrKDnlcxzICsmALgNJHg28Yf11Mh3efND5qvL\nlNvoie7bcO98bRrjxBv4ahO7McfsOVgNzWZkxvedsnQ2BjK6iqIClb7cBCk/buHY\nqeKZXppKZphz47Pv94k8l3DS1CHhKm2HLbOXXXALVXItUWJP5CoYhN3ByJj7/PCg\nkzy/j/pxixapEc+/gW5Q/Li6If4RTB+r3kdrDGVd4nSH1EJOFed93QgmL2olpFh6\nddaoCxAWc9ySkZeybMeYY5a63QFBKSRk4XcRGAOwsTDosqfH3+DdEqEWVJfx1Hbq\n3Nm5LCnH41ldXxcdZkRSCs4fF1p1jGzrAYbvggKRS8Lj\n-----END PGP PUBLIC KEY BLOCK-----', 'gpg --armor --export-secret-keys | grep "BEGIN PGP PRIVATE KEY BLOCK"'],
  ),
  keyRule(
    'putty-private-key',
    'private key',
    'PuTTY manual, appendix C (PPK file format)',
    'PuTTY private key file (PuTTY-User-Key-File-2/3 with its Private-Lines)',
    (() => {
      const body = re`[A-Za-z0-9+/=\t\r\n \\]`;
      return re`PuTTY-User-Key-File-[23]: ?[a-z0-9-]{3,40}(?:(?:\s|\\[rn]){1,4}[A-Za-z][A-Za-z0-9-]{0,29}: ?[^\r\n\\]{0,100}){1,10}${body}{1,1000}Private-Lines: ?[0-9]{1,3}(?:${body}{1,1000}${body}{0,1000}${body}{0,1000}Private-(?:MAC|Hash): ?[0-9a-f]{40,64}|${body}{40,1000})`;
    })(),
    ['putty-user-key-file-'],
    [
      'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20240611\nPublic-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAInr07Gm+f8Hk6NVljTXqPVaocqmOpQ4V7TuEWbAWJZJX\n1E2D9g39Jp+YqzKwPnZH\nPrivate-Lines: 1\nAAAAI7yG5DaszRCUUoF+c8sUU7UGFuFzHJVfABcAO6Ih\nPrivate-MAC: c2a590cce755a4b765ec27836b07eb64bedc288d8c3719f8b4a2858b0abed4ea\n',
    ],
    ['PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: docs\nPublic-Lines: 2\n...\nPrivate-Lines: 1\n...\nPrivate-MAC: ...'],
  ),
  keyRule(
    'private-key-ssh2',
    'private key',
    'SSH.COM / Tectia key files (RFC 4716 armor; private-key body not published)',
    'SSH.COM / Tectia private key (---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----)',
    (() => {
      const body = re`[A-Za-z0-9+/=\t\r\n \\]`;
      return re`---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----${armorHeaders(4)}(?:${body}{40,1000}${body}{0,1000}${body}{0,1000}---- END SSH2 ENCRYPTED PRIVATE KEY ----|${body}{40,1000})`;
    })(),
    ['begin ssh2 encrypted private key'],
    ['---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: "rsa-key-20240611"\nP2/56wAAA0UeZP5rbqf4RpcGVXh6+b2OAWMJHhjjpD4ZnIRTyokhjsgnHpimZ6wK\nMIIS7tbRh4GSt6lq8sb9x77uyno8jGTDVl0ZV8q1MrcLgNUAeEa1gpwnfIzh/Iro\nkMj4VJ5U/lDT6dnyhu8HaKhT6TXPTJkKPSfCUJlqxEHDjI9tdks45SIbzuVson7K\n14FD/BVfmFOOB64inb/BfC+UjTN0g3CLzBntJjNrTpMVZH9NEZReGqwwS+fMfYJ3\niVH6m80Bbnd8vXKn36QDyHJdgukchzNqPAJEXde9tp8XTvTDlgenScu4U8vwXpxe\n0YfAaWM11Al64GEpX3otOJMfZaau3KcV34M1GWtuEXTtKifLcVbOhx8dDPuQH2c/\nuOW39yBumvbzJs8lLGfri0zyDIfBfP748C7eDpSUeGOe2oOcxxWpP9VSxkzzjlIg\nWvdEQ2mUZmIRbLRTmrkg6i0LjmUZ9sE51LMrlxg/zYroQA+PeMowZT3eYEEiP0XB\nm9uB5CzlVv2XOGfaUQrIe36G5tiJDaYye6afspOHIBzQ7VvQy0VSLbLjijTm5/5V\nDQPs+55isHOfVazuBhWU5zf4C28wyLIza6E+wAAeYnEU27yO4eVhqDX6fFFH+zYq\nvBkjZ/VkMF+hyOoLqauphgr5iOwk6tkgp4nGuLGJ+yCIob4bCsBmjVh9eSexpWwT\nJHzwPSnsjwTck7y63FKxtUvrmKzllLRNZZqrxYaf0oX8JM8osxBsNpZo/IVgP9h0\nJpWCyNGQxNUZQoEamhkcoPqowToVDgrPymTcOfezfG9P1gblCSBIvfRcSa+rmMI4\nFFks61CJXhjWmgDug/TNLb50JluFTm6Swv7TFS+ycr7VYMZyeL9QJtE6Y6hchlbc\ncwz88yoLpgJmFMxxJAnUTjBjxGJ+6ZN46m+pIa6+Hy/2\n---- END SSH2 ENCRYPTED PRIVATE KEY ----'],
    ['---- BEGIN SSH2 PUBLIC KEY ----\nComment: "rsa-key-20240611"\nAAAAB3NzaC1yc2EMH0yPZCKbFQHCSGUCNxQfKbD3n8aYme6O8KD5SvPn0jdCcgul\n---- END SSH2 PUBLIC KEY ----'],
  ),
];
