package events

import "sync"

// freeMailDomains are mailbox providers anyone can sign up with: an
// address there names a person, not an organization, so such a domain
// never links a member to a customer account. Account imports reject them
// as account domains, and the sink stores no domain hash for them. The
// list is the large providers by region; extend it here (lowercase, no
// trailing dot) — it is data every deployment shares.
var freeMailDomains = []string{
	// global
	"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de",
	"hotmail.it", "hotmail.es", "live.com", "live.co.uk", "live.fr", "msn.com", "passport.com",
	"yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.it", "yahoo.es", "yahoo.co.jp", "yahoo.com.br",
	"yahoo.co.in", "ymail.com", "rocketmail.com", "aol.com", "aim.com",
	"icloud.com", "me.com", "mac.com",
	"proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tutanota.de", "tuta.io", "tutamail.com",
	"fastmail.com", "fastmail.fm", "hey.com", "zoho.com", "zohomail.com", "mail.com", "email.com", "gmx.com",
	"gmx.net", "gmx.de", "gmx.at", "gmx.ch", "web.de", "posteo.de", "mailbox.org", "hushmail.com",
	"yandex.com", "yandex.ru", "ya.ru", "mail.ru", "inbox.ru", "list.ru", "bk.ru", "rambler.ru",
	"qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sohu.com", "aliyun.com", "foxmail.com",
	"naver.com", "daum.net", "hanmail.net", "rediffmail.com",
	"orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it",
	"t-online.de", "freenet.de", "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl",
	"btinternet.com", "sky.com", "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "cox.net",
	"bigpond.com", "uol.com.br", "bol.com.br", "terra.com.br",
	// disposable and relay addresses
	"duck.com", "privaterelay.appleid.com", "users.noreply.github.com", "mailinator.com", "guerrillamail.com",
}

var (
	freeMailOnce   sync.Once
	freeMailSet    map[string]bool
	freeMailHashes map[string]bool
)

func loadFreeMail() {
	freeMailSet = make(map[string]bool, len(freeMailDomains))
	freeMailHashes = make(map[string]bool, len(freeMailDomains))
	for _, d := range freeMailDomains {
		freeMailSet[d] = true
		freeMailHashes[HashDomain(d)] = true
	}
}

// FreeMailDomains returns the free-mail domains (a copy), lowercase.
func FreeMailDomains() []string { return append([]string(nil), freeMailDomains...) }

// IsFreeMailDomain reports whether domain (any case, a trailing dot
// allowed) is a free-mail provider's.
func IsFreeMailDomain(domain string) bool {
	freeMailOnce.Do(loadFreeMail)
	return freeMailSet[normalizeDomain(domain)]
}

// IsFreeMailDomainHash reports whether h is the HashDomain of a free-mail
// domain (what the sink checks actor.email_domain_sha256 against).
func IsFreeMailDomainHash(h string) bool {
	freeMailOnce.Do(loadFreeMail)
	return freeMailHashes[h]
}
