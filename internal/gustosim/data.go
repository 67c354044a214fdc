package gustosim

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Generated data. A company's records are pure functions of (seed, company
// uuid, sizes, creation day, record index): nothing is stored per record,
// pages are encoded on demand, and no lock is taken to generate them. The
// only per-company state built lazily is the employees' filter flags
// (a byte per employee), the table of payroll dates (see payrolls.go) and
// the company object.

// Kinds of random streams, mixed into the per-record seed.
const (
	kindEmployee uint64 = iota + 1
	kindEmployeeFlags
	kindPayroll
	kindPayrollFlags
	kindSchedule
	kindDepartment
	kindCompany
	kindLocation
	kindPayrollLayout
)

// rng is splitmix64: tiny, fast, good enough for test data.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *rng) uuid() uuid128 { return newUUID(r.next(), r.next()) }

// mix hashes one word (the splitmix64 finalizer).
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// stream returns the random stream of record i of kind in the company.
func (c *company) stream(kind uint64, i int) rng {
	return rng{s: mix(c.key ^ mix(kind<<56^uint64(i)))}
}

// companyKey hashes the seed and the uuid.
func companyKey(seed int64, uuid string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(uint64(seed) >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(strings.ToLower(uuid)))
	return mix(h.Sum64())
}

// company is one simulated Gusto company and its data.
type company struct {
	uuid      string
	name      string
	tradeName string
	slug      string
	key       uint64
	created   time.Time // on Gusto's clock
	day       int64     // creation day, days since the epoch (UTC, Gusto's clock)
	employees int
	payrolls  int
	plain     bool
	owner     *user
	// sched, historyMonths and long shape the payroll history (payrolls.go).
	sched         companySchedules
	historyMonths int
	long          bool

	companyOnce sync.Once
	companyJSON []byte

	flagsOnce sync.Once
	flags     []uint8 // per employee: flagTerminated | flagOnboarded

	payrollsOnce sync.Once
	payrollSlots []payrollSlot // page order
	paySchedules []paySchedule // by schedule number

	del  deletions // records deleted through DeleteRecord (delete.go)
	edit edits     // employees changed through UpdateEmployee (edit.go)

	requests         atomic.Int64
	employeeRequests atomic.Int64 // GET .../employees, answered or not
	records          atomic.Int64
	refreshes        atomic.Int64

	mu     sync.Mutex // guards grants
	grants []*grant
}

// user is the person behind a grant, the resource owner of GET
// /v1/token_info: the company's primary admin, or one admin (an accountant)
// of several companies.
type user struct {
	uuid      string
	email     string
	first     string
	last      string
	companies []*company // the companies the user can reach, in creation order; guarded by Sim.mu
	api       window     // the rate-limit budget shared under RateLimitPerOwner
}

var firstNames = []string{
	"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Dennis", "Margaret",
	"John", "Radia", "Leslie", "Niklaus", "Shafi", "Tim", "Vint", "Whitfield", "Adele", "Hedy",
	"Katherine", "Dorothy", "Mary", "Annie", "Jean", "Betty", "Kathleen", "Marlyn", "Ruth", "Ida",
	"Bjarne", "Guido", "Rob", "Robert", "Russ", "Ian", "Brian", "Peter", "Ivan", "Butler",
	"Fernando", "Juris", "Robin", "Tony", "Michael", "Judea", "Silvio", "Yael", "Cynthia", "Sophie",
	"Evelyn", "Carla", "Lynn", "Anita", "Susan", "Joan", "Ellen", "Jeannette", "Lixia", "Manuela",
	"Nancy", "Marian", "Sally", "Mina",
}

var lastNames = []string{
	"Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Ritchie", "Hamilton",
	"McCarthy", "Perlman", "Lamport", "Wirth", "Goldwasser", "Berners-Lee", "Cerf", "Diffie", "Goldberg", "Lamarr",
	"Johnson", "Vaughan", "Jackson", "Easley", "Bartik", "Holberton", "Antonelli", "Meltzer", "Teitelbaum", "Rhodes",
	"Stroustrup", "van Rossum", "Pike", "Griesemer", "Cox", "Lance", "Kernighan", "Naur", "Sutherland", "Lampson",
	"Corbato", "Hartmanis", "Milner", "Hoare", "Rabin", "Pearl", "Micali", "Kalai", "Dwork", "Wilson",
	"Berners", "Castro", "Conway", "Borg", "Estrin", "Clarke", "Spertus", "Wing", "Zhang", "Veloso",
	"Lynch", "Croak", "Floyd", "Rees",
}

// lowerFirst and lowerLast are the email-safe forms of the names.
var lowerFirst, lowerLast = emailParts(firstNames), emailParts(lastNames)

func emailParts(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(n))
	}
	return out
}

var departments = []string{"Engineering", "Sales", "Operations", "Finance", "Support", "Marketing"}

var titles = []string{"Engineer", "Senior Engineer", "Account Executive", "Operations Lead", "Accountant", "Support Specialist", "Designer", "Analyst"}

var cities = []struct{ street, city, state, zip string }{
	{"300 3rd Street", "San Francisco", "CA", "94107"},
	{"412 Kiera Stravenue", "Denver", "CO", "80202"},
	{"644 Fay Vista", "Richmond", "VA", "23218"},
	{"1 Main Street", "Austin", "TX", "78701"},
	{"77 Harbor Way", "Seattle", "WA", "98101"},
	{"9 Elm Court", "New York", "NY", "10001"},
}

var companyWords = []string{"Acme", "Blue", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Orchid", "Pioneer"}
var companyKinds = []string{"Labs", "Studios", "Partners", "Works", "Bakery", "Logistics", "Dental", "Analytics"}

// defaultCompanyName derives a name from the key.
func defaultCompanyName(key uint64) string {
	return companyWords[key%uint64(len(companyWords))] + " " + companyKinds[(key>>8)%uint64(len(companyKinds))] + " " + strings.ToUpper(string(appendHex(nil, key>>16, 4))) + " LLC"
}

func slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// dayOf returns the day number (days since the epoch, UTC) of t.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s - 86399) / 86400
	}
	return s / 86400
}

// --- company object ---

type companyAddress struct {
	Street1 string  `json:"street_1"`
	Street2 *string `json:"street_2"`
	City    string  `json:"city"`
	State   string  `json:"state"`
	Zip     string  `json:"zip"`
	Country string  `json:"country"`
	Active  bool    `json:"active"`
}

type namedRate struct {
	UUID     string   `json:"uuid"`
	Name     string   `json:"name"`
	Multiple *float64 `json:"multiple,omitempty"`
}

type companyObject struct {
	UUID                string           `json:"uuid"`
	Name                string           `json:"name"`
	Slug                string           `json:"slug"`
	TradeName           string           `json:"trade_name"`
	EIN                 string           `json:"ein"`
	EntityType          string           `json:"entity_type"`
	ContractorOnly      bool             `json:"contractor_only"`
	Tier                string           `json:"tier"`
	IsSuspended         bool             `json:"is_suspended"`
	CompanyStatus       string           `json:"company_status"`
	IsHighRiskBusiness  bool             `json:"is_high_risk_business"`
	IsMarijuanaBusiness bool             `json:"is_marijuana_business"`
	IsPartnerManaged    bool             `json:"is_partner_managed"`
	PayScheduleType     string           `json:"pay_schedule_type"`
	JoinDate            string           `json:"join_date"`
	FundingType         string           `json:"funding_type"`
	Locations           []companyAddress `json:"locations"`
	Compensations       struct {
		Hourly      []namedRate `json:"hourly"`
		Fixed       []namedRate `json:"fixed"`
		PaidTimeOff []namedRate `json:"paid_time_off"`
	} `json:"compensations"`
}

// object returns the company's JSON, built once.
func (c *company) object() []byte {
	c.companyOnce.Do(func() {
		r := c.stream(kindCompany, 0)
		o := companyObject{
			UUID: c.uuid, Name: c.name, Slug: c.slug, TradeName: c.tradeName,
			EntityType:    []string{"LLC", "C-Corporation", "S-Corporation"}[r.intn(3)],
			Tier:          []string{"simple", "plus", "premium", "complete"}[r.intn(4)],
			CompanyStatus: "Approved", IsPartnerManaged: true, FundingType: "ach",
			PayScheduleType: "single",
		}
		ein := 100000000 + r.intn(899999999)
		o.EIN = strconv.Itoa(ein/10000000) + "-" + strconv.Itoa(ein%10000000 + 10000000)[1:]
		o.JoinDate = string(appendDay(nil, c.day-int64(365+r.intn(2000))))
		nloc := 1 + r.intn(2)
		for i := 0; i < nloc; i++ {
			a := cities[r.intn(len(cities))]
			o.Locations = append(o.Locations, companyAddress{Street1: a.street, City: a.city, State: a.state, Zip: a.zip, Country: "USA", Active: true})
		}
		mult := func(f float64) *float64 { return &f }
		for i, n := range []string{"Regular", "Overtime", "Double overtime", "Holiday"} {
			o.Compensations.Hourly = append(o.Compensations.Hourly, namedRate{UUID: r.uuid().String(), Name: n, Multiple: mult([]float64{1, 1.5, 2, 1}[i])})
		}
		for _, n := range []string{"Bonus", "Commission", "Paycheck Tips", "Cash Tips", "Correction Payment"} {
			o.Compensations.Fixed = append(o.Compensations.Fixed, namedRate{UUID: r.uuid().String(), Name: n})
		}
		for _, n := range []string{"Vacation Hours", "Sick Hours"} {
			o.Compensations.PaidTimeOff = append(o.Compensations.PaidTimeOff, namedRate{UUID: r.uuid().String(), Name: n})
		}
		b, err := json.Marshal(o)
		if err != nil {
			panic("gustosim: encode company: " + err.Error()) // plain structs: cannot fail
		}
		c.companyJSON = b
	})
	return c.companyJSON
}

// uuidOf returns the first uuid of record i's stream of kind.
func (c *company) uuidOf(kind uint64, i int) uuid128 {
	r := c.stream(kind, i)
	return r.uuid()
}
