const quotes = ["Deploy early, deploy often.", "Automate the boring parts.", "Small batches, fast feedback."];
document.getElementById("quote").textContent = quotes[Math.floor(Math.random() * quotes.length)];
