tls-san: [a]
