package gusto

import (
	"fmt"
	"strings"
)

// Shapes taken from the x-examples of /work/shared/gusto/openapi.yaml.

const testCompany = "e904cc79-818a-4da8-9d37-0be0a86fdda8"

func companyJSON(id string) string {
	return `{"uuid":"` + id + `","name":"Shoppe Studios LLC","trade_name":"Record Shoppe","is_partner_managed":true,"tier":"complete",` +
		`"locations":[{"street_1":"412 Kiera Stravenue","street_2":"Suite 391","city":"San Francisco","state":"CA","zip":"94107","country":"USA","active":true}],` +
		`"ein":"00-0000001","entity_type":"C-Corporation","pay_schedule_type":"by_department","join_date":"2024-01-15","funding_type":"ach",` +
		`"slug":"shoppe-studios-llc","is_suspended":false,"company_status":"Approved","contractor_only":false}`
}

func employeeUUID(i int) string { return fmt.Sprintf("d7282d99-ab6b-42f5-ba45-%012x", i) }

func employeeJSON(i int, company string) string {
	id := employeeUUID(i)
	return `{"uuid":"` + id + `","first_name":"Boaty` + fmt.Sprint(i) + `","middle_initial":null,"last_name":"Koss","email":"keena.feest@kiehn.co.uk",` +
		`"company_uuid":"` + company + `","manager_uuid":null,"version":"a5cec1f1c0135feb3e76ca6ea3c46176","current_employment_status":"full_time",` +
		`"onboarding_status":"onboarding_completed","preferred_first_name":null,"department_uuid":null,"employee_code":"46f036",` +
		`"payment_method":"Direct Deposit","department":null,"terminated":false,"two_percent_shareholder":false,"onboarded":true,` +
		`"historical":false,"has_ssn":true,"onboarding_documents_config":{"uuid":null,"i9_document":false},` +
		`"jobs":[{"uuid":"bc875f9d-adc5-40f6-99db-ed8470bda25f","version":"863bcd01c51fcfa2468d604cffec7413","employee_uuid":"` + id + `",` +
		`"current_compensation_uuid":"2ec164d0-808b-446c-8120-8cfb500945d0","payment_unit":"Year","primary":true,"two_percent_shareholder":false,` +
		`"state_wc_covered":null,"state_wc_class_code":null,"title":"","compensations":[{"uuid":"2ec164d0-808b-446c-8120-8cfb500945d0",` +
		`"employee_uuid":"` + id + `","version":"db7bfb49a4f0893432cb562311bfcad9","payment_unit":"Year","flsa_status":"Exempt",` +
		`"adjust_for_minimum_wage":false,"minimum_wages":[],"job_uuid":"bc875f9d-adc5-40f6-99db-ed8470bda25f","effective_date":"2025-06-09",` +
		`"rate":"80000.00"}],"rate":"80000.00","hire_date":"2024-06-09"}],"eligible_paid_time_off":[],"terminations":[],"garnishments":[],` +
		`"date_of_birth":"2005-06-09","ssn":"","phone":null,"work_email":null}`
}

func payrollUUID(i int) string { return fmt.Sprintf("3601a7a2-0562-4e4c-9559-%012x", i) }

func payrollJSON(i int, company string) string {
	id := payrollUUID(i)
	return `{"auto_pilot":false,"calculated_at":"2025-06-11T19:40:51Z","check_date":"2025-06-08","company_taxes":[],` +
		`"company_uuid":"` + company + `","created_at":"2025-06-11T19:40:51Z","external":false,"off_cycle":false,` +
		`"partner_owned_disbursement":null,"pay_period":{"end_date":"2025-06-04","pay_schedule_uuid":"ded21d08-02d6-41cb-b211-8d8ca02f1c6a",` +
		`"start_date":"2025-05-20"},"payroll_deadline":"2025-06-12T23:00:00Z","payroll_uuid":"` + id + `","processed":true,` +
		`"processed_date":"2025-06-11","uuid":"` + id + `","totals":{"gross_pay":"1234.56","net_pay":"1000.00"}}`
}

// jsonArray joins n items made by f into a JSON array, items numbered from first.
func jsonArray(first, n int, f func(int, string) string, company string) string {
	parts := make([]string, n)
	for i := range n {
		parts[i] = f(first+i, company)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

const tokenInfoJSON = `{"scope":"companies:read employees:read payrolls:read","resource":{"type":"Company","uuid":"` + testCompany + `"},` +
	`"resource_owner":{"type":"CompanyAdmin","uuid":"8fdc31f0-a8a7-4872-a9f1-dcb5e6f876e3"}}`

const meJSON = `{"uuid":"8fdc31f0-a8a7-4872-a9f1-dcb5e6f876e3","email":"admin@example.com",` +
	`"roles":{"payroll_admin":{"companies":[{"uuid":"` + testCompany + `","name":"Shoppe Studios LLC"}]},` +
	`"employee":{"companies":[{"uuid":"` + testCompany + `"},{"uuid":"c7a07c73-a703-4462-9343-1b181182b6e0","name":"Other"}]}}}`
