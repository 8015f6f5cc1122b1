module finserve/payment

go 1.19
