/* A fingerprinted bundle: its name changes whenever its content does, so it is cached for a year. */
window.lighthouse = Object.freeze({ version: '3f9a2c1b', greet: (name) => `Welcome, ${name}!` });
